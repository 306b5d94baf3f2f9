"""CPU a ``proctor`` command costs before it does any work: mostly imports.

Each command runs ``--repeat`` times as a subprocess of this one; its CPU (user + system,
from ``resource.getrusage(RUSAGE_CHILDREN)``) is the figure, so a busy machine slows the
wall clock but barely the figures. Prints the median and the fastest of each:

- ``python -c pass``: the interpreter alone, the floor under every command;
- ``import typer, rich.console``: the CLI toolkit alone (Typer vendors Click);
- a one-command Typer app's ``--help``: Typer's default rich help (rich's markdown and
  traceback modules too), which ``proctor --help`` avoids with Click's plain help;
- ``proctor --help``, ``proctor runs`` on an empty store, ``proctor trace`` of a finished run.

Asserts nothing about time (a goal, not a test: ``proctor --help`` within 0.15 s).

    python benchmarks/cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import open_store

PROCTOR = Path(sys.executable).with_name("proctor")
TYPER_HELP = (
    "import typer\n"
    "app = typer.Typer(add_completion=False)\n"
    "app.command()(lambda: None)\n"
    "app(['--help'])"
)


def cpu_of(command: list[str], env: dict[str, str]) -> float:
    """Seconds of CPU (user + system) ``command`` took, run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def recorded_run(db: str) -> str:
    """A finished run of the invoice example in the store at ``db``; its id."""
    store = open_store(db)
    try:
        result = await Runner(store, invoice.workflow()).start(invoice.sample_input("clean"))
        return result.run_id
    finally:
        await store.close()


def measure(repeat: int) -> dict[str, list[float]]:
    """Seconds of CPU of each command, ``repeat`` runs each (after one not counted)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PROCTOR_HOME": tmp, "NO_COLOR": "1"}
        env.pop("PROCTOR_DB", None)
        # Bytecode is cached, as after `pip install`: the warm-up run below writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        empty, full = str(Path(tmp) / "empty.db"), str(Path(tmp) / "runs.db")
        run_id = asyncio.run(recorded_run(full))
        asyncio.run(open_store(empty).close())  # `proctor runs` reads a store, never makes one
        python = sys.executable
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "import typer, rich.console": [python, "-c", "import typer, rich.console"],
            "a Typer app's --help": [python, "-c", TYPER_HELP],
            "proctor --help": [str(PROCTOR), "--help"],
            "proctor runs (empty store)": [str(PROCTOR), "--db", empty, "runs"],
            "proctor trace (one run)": [str(PROCTOR), "--db", full, "trace", run_id],
        }
        for command in commands.values():  # warm the file cache and the store files
            cpu_of(command, env)
        # The commands take turns, so a busy moment of the host falls on all of them.
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, command in commands.items():
                times[name].append(cpu_of(command, env))
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="Runs of each command.")
    args = parser.parse_args()
    times = measure(args.repeat)
    print(f"CPU per command, user + system, {args.repeat} runs each")
    print(f"{'command':<30} {'median':>9} {'fastest':>9}")
    for name, samples in times.items():
        print(f"{name:<30} {statistics.median(samples):>8.3f}s {min(samples):>8.3f}s")


if __name__ == "__main__":
    main()
