"""Running the installed ``proctor`` console script as a subprocess, the way a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proctor.cli import main

PROCTOR = Path(sys.executable).with_name("proctor")
"""The console script installed next to this interpreter (the venv's ``bin/proctor``)."""

TIMEOUT_S = 120


@dataclass(frozen=True)
class Ran:
    """One finished ``proctor`` invocation."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:  # the tests' assertion message: the command and its output
        return (
            f"proctor {' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout\n{self.out}--- stderr\n{self.err}"
        )


def cli_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, pointed at ``home``, with plain (uncoloured) output."""
    env = dict(os.environ)
    env["PROCTOR_HOME"] = str(home)
    env.pop("PROCTOR_DB", None)
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def proctor(*args: str, env: Mapping[str, str]) -> Ran:
    """Run ``proctor ARGS`` to completion."""
    return proctor_all([args], env=env)[0]


def proctor_all(commands: Sequence[Sequence[str]], *, env: Mapping[str, str]) -> list[Ran]:
    """Run independent ``proctor`` commands side by side (each pays interpreter start-up).

    Only for commands that do not write to the same store: they run concurrently.
    """
    procs = [
        (
            tuple(args),
            subprocess.Popen(
                [str(PROCTOR), *args],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args in commands
    ]
    results = []
    for args, proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results.append(Ran(args=args, code=proc.returncode, out=out, err=err))
    return results


def proctor_main(*args: str, capsys: pytest.CaptureFixture[str]) -> Ran:
    """Run ``proctor ARGS`` through its entry point in this process (no interpreter start-up),
    for tests that try many arguments; the environment is this process's."""
    argv = sys.argv
    sys.argv = ["proctor", *args]
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return Ran(args=args, code=code, out=out, err=err)


def one_line_error(ran: Ran, code: int) -> str:
    """Assert ``ran`` failed with ``code`` and exactly one line on stderr; return it."""
    assert ran.code == code, str(ran)
    assert "Traceback" not in ran.err, str(ran)
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, str(ran)
    assert lines[0].startswith("usage error: " if code == 2 else "error: "), str(ran)
    return lines[0]


CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
"""A time as the JSON outputs write it: ISO 8601, UTC, milliseconds."""


def documented_json(command: str) -> tuple[set[str], set[str]]:
    """The keys docs/cli.md gives ``proctor COMMAND --json``, and those of each item."""
    import re

    for line in CLI_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] == f"`proctor {command} --json`":
            top, items = (set(re.findall(r"`(\w+)`", cell)) for cell in cells[1:])
            return top, items
    raise AssertionError(f"docs/cli.md has no row for `proctor {command} --json`")
