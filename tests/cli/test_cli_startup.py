"""What ``proctor`` loads before it runs a command: Typer and the command groups, then only
the layers the command uses. The CPU this costs is measured by benchmarks/cli_startup.py,
not timed here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proctor.cli import _options
from proctor.reports import MIN_RUNS
from proctor.runtime._worker import DEFAULT_GRACE_S, DEFAULT_LEASE_S

LOADED = """
import sys
sys.argv = ["proctor", *{args!r}]
from proctor.cli import main
try:
    main()
except SystemExit:
    pass
ours = {{".".join(name.split(".")[:2]) for name in sys.modules if name.startswith("proctor")}}
print(" ".join(sorted(ours | ({{"pydantic"}} & set(sys.modules)))))
"""


def loaded_by(args: list[str], home: Path) -> set[str]:
    """Proctor's packages (and pydantic) in ``sys.modules`` after ``proctor ARGS``."""
    ran = subprocess.run(
        [sys.executable, "-c", LOADED.format(args=args)],
        env={"PROCTOR_HOME": str(home), "NO_COLOR": "1", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(ran.stdout.splitlines()[-1].split())


def test_the_defaults_help_shows_are_the_layers_defaults() -> None:
    assert _options.LEASE_S == DEFAULT_LEASE_S
    assert _options.GRACE_S == DEFAULT_GRACE_S
    assert _options.MIN_RUNS == MIN_RUNS


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_load_the_cli_and_no_layer(args: list[str], tmp_path: Path) -> None:
    assert loaded_by(args, tmp_path) == {"proctor", "proctor.cli", "proctor.errors"}


@pytest.mark.slow
def test_listing_runs_loads_the_store_and_no_other_layer(tmp_path: Path) -> None:
    assert loaded_by(["runs"], tmp_path) == {
        "proctor",
        "proctor.cli",
        "proctor.errors",
        "proctor.store",
        "pydantic",
    }
