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
