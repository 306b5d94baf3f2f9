"""The map a newcomer reads first matches the code.

The README's project layout names every package, docs/architecture.md's layer table
names every package with the layers it really imports, and its list of event types is
the closed set the store defines.
"""

from __future__ import annotations

import re
from pathlib import Path

import proctor
from proctor.store import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(proctor.__file__).parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

# Beside the layers, used by all of them: not a layer a table row needs to name.
SHARED = {"errors", "_yaml", "_sockets"}


def _packages() -> set[str]:
    """The layers: every package but the shared ones."""
    return {path.parent.name for path in PACKAGE.glob("*/__init__.py")} - SHARED


def _imported_layers(package: str) -> set[str]:
    used: set[str] = set()
    for source in (PACKAGE / package).rglob("*.py"):
        used |= set(re.findall(r"(?:from|import) proctor\.(\w+)", source.read_text()))
    return used - SHARED - {package}


def test_the_readme_layout_names_every_package() -> None:
    block = README.split("## Project layout", 1)[1].split("```", 2)[1]
    listed = set(re.findall(r"^  (\w+)/ ", block, re.MULTILINE)) - SHARED
    assert listed == _packages(), (
        f"README's project layout: missing {sorted(_packages() - listed)}, "
        f"no such package {sorted(listed - _packages())}"
    )


def _layer_table() -> dict[str, set[str]]:
    """Each row of the layer table: the package, and the packages its imports column names."""
    rows: dict[str, set[str]] = {}
    for package, imports in re.findall(
        r"^\| `proctor\.(\w+)` \|.*\| (.*?) \|$", ARCHITECTURE, re.MULTILINE
    ):
        rows[package] = set(re.findall(r"`(\w+)`", imports)) & _packages()
    return rows


def test_the_layer_table_has_a_row_per_package() -> None:
    assert set(_layer_table()) == _packages()


def test_the_layer_table_names_what_each_package_imports() -> None:
    wrong = {
        package: {"table": sorted(named), "code": sorted(_imported_layers(package))}
        for package, named in _layer_table().items()
        if named != _imported_layers(package)
    }
    assert not wrong, f"docs/architecture.md's imports column differs from the code: {wrong}"


def test_the_event_types_listed_are_the_closed_set() -> None:
    paragraph = ARCHITECTURE.split("The event types form a closed set:", 1)[1].split("\n\n")[0]
    listed = re.findall(r"`(\w+)`", paragraph)
    defined = [model.model_fields["type"].default for model in EVENT_TYPES]
    assert sorted(listed) == sorted(defined)
