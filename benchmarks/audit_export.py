"""Size and time of a run's receipt (``proctor audit export``) for a long run.

Makes one run of 200 governed steps with the scripted model (as step_overhead.py does),
then measures building the receipt (read the log once, verify the chain, fold) and
rendering it as HTML and as JSON, in process and as the `proctor audit export` command
(interpreter start-up included). Prints figures; asserts nothing about time.

    python benchmarks/audit_export.py [--steps 200] [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from step_overhead import workflow

from proctor.audit import build_receipt, receipt_html, receipt_json
from proctor.runtime import Runner
from proctor.store import SQLiteStore


async def make_run(db: Path, steps: int) -> tuple[str, int]:
    store = SQLiteStore(db)
    try:
        result = await Runner(store, workflow("kv.get", steps, False)).start({"n": steps})
        assert result.outcome == "resolved", result.outcome
        return result.run_id, len(await store.events(result.run_id))
    finally:
        await store.close()


async def in_process(db: Path, run_id: str, repeats: int) -> dict[str, list[float]]:
    store = SQLiteStore(db)
    timings: dict[str, list[float]] = {"build": [], "html": [], "json": []}
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            receipt = await build_receipt(store, run_id)
            built = time.perf_counter()
            receipt_html(receipt)
            rendered = time.perf_counter()
            receipt_json(receipt)
            done = time.perf_counter()
            timings["build"].append((built - started) * 1000)
            timings["html"].append((rendered - built) * 1000)
            timings["json"].append((done - rendered) * 1000)
    finally:
        await store.close()
    return timings


def command(db: Path, run_id: str, fmt: str, out: Path) -> float:
    """Wall time of one `proctor audit export`; without ``fmt``, of `proctor audit --help`."""
    args = ["export", run_id, "--format", fmt, "--output", str(out)] if fmt else ["--help"]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "proctor", "--db", str(db), "audit", *args],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.db"
        run_id, events = asyncio.run(make_run(db, args.steps))
        timings = asyncio.run(in_process(db, run_id, args.repeats))
        print(f"receipt of a {args.steps}-step run ({events} events), {args.repeats} repeats:")
        for stage, label in (
            ("build", "read log + verify chain + fold"),
            ("html", "render HTML"),
            ("json", "render JSON"),
        ):
            samples = timings[stage]
            print(
                f"  {label:31}: p50 {statistics.median(samples):7.1f} ms, "
                f"min {min(samples):7.1f} ms"
            )
        startup = min(command(db, run_id, "", Path(tmp) / "none") for _ in range(3))
        print(f"  (proctor audit --help alone: {startup:.2f} s: start-up and imports)")
        for fmt in ("html", "json"):
            out = Path(tmp) / f"receipt.{fmt}"
            seconds = min(command(db, run_id, fmt, out) for _ in range(3))
            print(
                f"  proctor audit export --format {fmt}: {out.stat().st_size:,} bytes, "
                f"{seconds:.2f} s wall (best of 3, interpreter start-up included)"
            )


if __name__ == "__main__":
    main()
