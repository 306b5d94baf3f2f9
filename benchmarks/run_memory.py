"""Memory of one run as it grows: a 10,000-step run against a 1,000-step run.

Each size runs in a process of its own (``--steps N`` runs one). After a warm-up run
(imports, compiled policy, caches), the resident set is read before and after one run of
N governed steps (the step benchmark's workflow: a scripted model, one trivial async tool
call per turn, a SQLite file store), and the growth is printed. Issue 21's goal: a
10,000-step run within 2x the growth of a 1,000-step run. Asserts nothing.

    python benchmarks/run_memory.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from step_overhead import workflow

from proctor.runtime import Runner
from proctor.store import SQLiteStore


def resident_mib() -> float:
    """This process's resident set now (Linux's /proc), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status: this benchmark needs Linux")


async def grow(steps: int) -> tuple[float, float]:
    """The resident set's growth over one run of ``steps`` steps, and the peak (MiB)."""
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(os.path.join(folder, "memory.db"))
        try:
            await Runner(store, workflow("kv.get", 50, cost_cap=False)).start({"warm": True})
            before = resident_mib()
            await Runner(store, workflow("kv.get", steps, cost_cap=False)).start({"q": 1})
            after = resident_mib()
        finally:
            await store.close()
    return after - before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--steps", type=int, help="measure one size here (used by the driver)")
    args = parser.parse_args()
    if args.steps is not None:
        growth, peak = asyncio.run(grow(args.steps))
        print(f"{growth:.2f} {peak:.1f}")
        return
    grown: dict[int, float] = {}
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--steps", str(size)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        grown[size] = float(out[0])
        print(
            f"{size:>6} steps: resident set +{grown[size]:.1f} MiB (peak {float(out[1]):.0f} MiB)"
        )
    smallest, largest = min(grown), max(grown)
    ratio = grown[largest] / grown[smallest] if grown[smallest] else float("inf")
    print(
        f"growth of {largest} steps / growth of {smallest} steps: {ratio:.2f}x (goal: 2x at most)"
    )


if __name__ == "__main__":
    main()
