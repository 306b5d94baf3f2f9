"""Running ``proctor`` commands the way a user does: through the console script's entry
point, with an environment, capturing what it prints and its exit code.

``proctor`` and ``proctor_all`` run commands in this process (the same ``main()`` the
console script calls, with its own environment, argv and streams, so no interpreter
start-up: most of what the CLI tests cost). ``PROCTOR_TEST_SUBPROCESS=1`` runs every
command as a real subprocess instead.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import traceback
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


IN_PROCESS = os.environ.get("PROCTOR_TEST_SUBPROCESS") != "1"


def proctor(*args: str, env: Mapping[str, str]) -> Ran:
    """Run ``proctor ARGS`` to completion, with ``env`` as its whole environment."""
    return proctor_all([args], env=env)[0]


def _looping() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_process(args: Sequence[str], env: Mapping[str, str]) -> Ran:
    saved_env, saved_argv = dict(os.environ), sys.argv
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["proctor", *args]
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(), out, err
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except Exception:  # what the interpreter would print before exiting 1
        traceback.print_exc(file=err)
        code = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return Ran(args=tuple(args), code=code, out=out.getvalue(), err=err.getvalue())


def proctor_all(
    commands: Sequence[Sequence[str]], *, env: Mapping[str, str], side_by_side: bool = False
) -> list[Ran]:
    """Run independent ``proctor`` commands: one after the other in this process where
    ``proctor`` would, else side by side as subprocesses (each pays interpreter start-up).
    ``side_by_side``: always as processes at once (a test of what they race for).
    """
    if not side_by_side and _here(env):
        return [_in_process(args, env) for args in commands]
    return _processes(commands, env)


def _here(env: Mapping[str, str]) -> bool:
    """Whether commands with ``env`` can run in this process. Only the interpreter's start
    reads PYTHONPATH: a command that imports from it runs in a process of its own; so does
    one called where an event loop runs (the command runs its own)."""
    return IN_PROCESS and env.get("PYTHONPATH") == os.environ.get("PYTHONPATH") and not _looping()


def _processes(commands: Sequence[Sequence[str]], env: Mapping[str, str]) -> list[Ran]:
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
