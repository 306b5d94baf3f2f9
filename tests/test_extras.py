"""The core works without any extra, and a feature used without its extra says which
extra to install, in one line (the CLI) or as a ``MissingExtraError`` (the library).

Each case runs in a subprocess whose ``sys.modules`` maps the extras' modules to ``None``,
so importing them fails as if they were not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from proctor.errors import DISTRIBUTION, EXTRA_OF_MODULE, install_command

pytestmark = pytest.mark.slow

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"
EVERY_EXTRA = sorted(set(EXTRA_OF_MODULE.values()))
INPUT = resources.files("proctor.examples.invoice") / "data" / "clean.json"


def without(extras: list[str], code: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where the modules of ``extras`` cannot be imported."""
    blocked = sorted(module for module, extra in EXTRA_OF_MODULE.items() if extra in extras)
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    env = {**os.environ, "PROCTOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("PROCTOR_DB", None)
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def hint(extra: str) -> str:
    """The install command the messages give for ``extra``, in this environment."""
    return install_command(f"{DISTRIBUTION}[{extra}]")


def proctor_without(extras: list[str], args: list[str], home: Path) -> tuple[int, str, str]:
    """``proctor ARGS`` without ``extras``: its exit code, stdout and stderr."""
    code = f"sys.argv = ['proctor', *{args!r}]\nfrom proctor.cli import main\nmain()\n"
    ran = without(extras, code, home)
    return ran.returncode, ran.stdout, ran.stderr


def test_every_extra_in_pyproject_is_known_and_all_holds_them() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert set(EVERY_EXTRA) == set(extras) - {"all", "dev"}
    # presidio changes redaction when installed (contracts' `presidio: auto`): never by default.
    (bundle,) = extras["all"]
    assert bundle.startswith("proctor-runtime[")
    named = set(bundle.removeprefix("proctor-runtime[").removesuffix("]").split(","))
    assert named == set(EVERY_EXTRA) - {"presidio"}


def test_the_core_runs_and_reads_runs_without_any_extra(tmp_path: Path) -> None:
    code = f"""
from proctor.cli import app
for args in (["--help"], ["run", "invoice_reconciliation", "-i", {str(INPUT)!r}], ["runs"],
             ["audit", "verify"]):
    app(args, standalone_mode=False)
extras = {sorted(EXTRA_OF_MODULE)!r}
print("loaded:", sorted(name for name in extras if sys.modules.get(name) is not None))
"""
    ran = without(EVERY_EXTRA, code, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "resolved" in ran.stdout
    assert "1 chain(s) verified" in ran.stdout
    assert ran.stdout.strip().endswith("loaded: []")


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ("server", ["serve"], "proctor serve needs the server extra"),
        ("server", ["gateway", "serve"], "proctor gateway serve needs the server extra"),
        (
            "server",
            ["keys", "create", "--role", "admin", "--tenant", "acme"],
            "proctor keys create needs the server extra",
        ),
        (
            "otel",
            ["otel", "export", "--endpoint", "http://127.0.0.1:9/v1/traces"],
            "proctor otel export needs the otel extra",
        ),
        (
            "postgres",
            ["--db", "postgresql://proctor@127.0.0.1:9/none", "runs"],
            "a PostgreSQL store needs the postgres extra",
        ),
        (
            "postgres",
            ["--db", "postgresql://proctor@127.0.0.1:9/none", "db", "status"],
            "proctor db status needs the postgres extra",
        ),
    ],
)
def test_a_command_without_its_extra_names_the_install_command(
    extra: str, args: list[str], message: str, tmp_path: Path
) -> None:
    code, out, err = proctor_without([extra], args, tmp_path)
    assert code == 1
    assert out == ""
    assert err == f"error: {message}: {hint(extra)}\n"


def test_importing_a_feature_without_its_extra_raises_a_proctor_import_error(
    tmp_path: Path,
) -> None:
    code = """
from proctor.errors import MissingExtraError, ProctorError
for name in (
    "proctor.server",
    "proctor.endpoint",
    "proctor.telemetry._otel",
    "proctor.integrations.pydantic_ai",
    "proctor.integrations.openai_agents",
    "proctor.integrations.langgraph",
):
    try:
        __import__(name)
    except MissingExtraError as exc:
        assert isinstance(exc, ImportError) and isinstance(exc, ProctorError)
        print(exc)
import proctor.store
for package, name in ((proctor.store, "PostgresStore"),):
    try:
        getattr(package, name)
    except MissingExtraError as exc:
        print(exc)
"""
    ran = without(EVERY_EXTRA, code, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        f"proctor.server needs the server extra: {hint('server')}",
        f"proctor.endpoint needs the server extra: {hint('server')}",
        f"OpenTelemetry export needs the otel extra: {hint('otel')}",
        f"proctor.integrations.pydantic_ai needs the pydantic-ai extra: {hint('pydantic-ai')}",
        "proctor.integrations.openai_agents needs the openai-agents extra: "
        f"{hint('openai-agents')}",
        f"proctor.integrations.langgraph needs the langgraph extra: {hint('langgraph')}",
        f"proctor.store.PostgresStore needs the postgres extra: {hint('postgres')}",
    ]


def test_live_export_without_the_otel_extra_warns_and_runs_go_on(tmp_path: Path) -> None:
    code = """
import os
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
from proctor.telemetry import live_exporter
print(live_exporter())
"""
    ran = without(["otel"], code, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "None\n"
    assert ran.stderr == (
        f"OpenTelemetry export is off: OpenTelemetry export needs the otel extra: {hint('otel')}\n"
    )


def test_an_unexpected_missing_extra_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from proctor.cli._errors import report

    with pytest.raises(SystemExit) as exited:
        report(ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn"))
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        f"error: this command needs the server extra: {hint('server')}\n"
    )


def test_the_install_command_fits_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util
    import shutil

    python = sys.executable
    with_pip = {"pip": object()}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: with_pip.get(name))
    assert install_command("proctor-runtime[redis]") == (
        f"{python} -m pip install 'proctor-runtime[redis]'"
    )
    with_pip.clear()  # an environment uv built: no pip in it
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/uv")
    assert install_command("proctor-runtime[redis]") == (
        f"/usr/bin/uv pip install --python {python} 'proctor-runtime[redis]'"
    )
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "elsewhere" / ".venv"))
    assert install_command("x") == f"{python} -m ensurepip && {python} -m pip install 'x'"
