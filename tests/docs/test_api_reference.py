"""The API reference builds from the docstrings, and every exported name has one."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow


def _builder() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "docs" / "build_api.py"
    spec = importlib.util.spec_from_file_location("build_api", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()


def test_the_api_reference_builds_with_every_exported_name(tmp_path: Path) -> None:
    BUILD.build(tmp_path)
    for module in BUILD.PACKAGES:
        page = tmp_path / (module.replace(".", "/") + ".html")
        html = page.read_text(encoding="utf-8")
        exported = importlib.import_module(module).__all__
        missing = [name for name in exported if f'id="{name}"' not in html]
        assert not missing, f"{page.name} lacks {missing}"


@pytest.mark.parametrize("module", BUILD.PACKAGES)
def test_every_exported_class_and_function_has_a_docstring(module: str) -> None:
    package = importlib.import_module(module)
    bare = [
        name
        for name in package.__all__
        if (inspect.isclass(obj := getattr(package, name)) or inspect.isfunction(obj))
        and not (obj.__doc__ or "").strip()
    ]
    assert not bare, f"{module}: add a docstring to {bare}"
