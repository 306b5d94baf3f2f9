"""Queued runs per second: the invoice example (scripted models) driven by `proctor worker`.

1, 2 and 4 worker processes on PostgreSQL (a schema of its own, dropped afterwards;
skipped without a server), and one on SQLite. The workers start first; the clock runs
from the first submission to the last run finished, so process start-up is left out.
The scenario mix is the demo's without the one that waits for approval. Prints figures;
asserts nothing about time.

    python benchmarks/queue_throughput.py [--runs 300] [--concurrency 4] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from proctor.examples import invoice
from proctor.runtime import submit
from proctor.store import RunFilter, open_store
from support.crash_harness import Workers

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REF = "invoice_reconciliation"


async def measure(db: str, home: Path, *, runs: int, processes: int, concurrency: int) -> float:
    """Runs per second of ``processes`` workers draining ``runs`` queued runs."""
    home.mkdir(parents=True)
    env = dict(os.environ, PROCTOR_HOME=str(home), PROCTOR_DB=db, NO_COLOR="1")
    os.environ["PROCTOR_HOME"] = str(home)  # the ERP file the workers share
    scenarios = [s for s in invoice.DEMO_SCENARIOS if s.expected != "awaiting_approval"]
    inputs = [invoice.sample_input(s.input_name) for s in scenarios]
    store = open_store(db)
    pool = Workers(env, home, lease_s=30, concurrency=concurrency)
    try:
        for _ in range(processes):
            pool.start()
        pool.wait_ready()
        began = time.perf_counter()
        for n in range(runs):
            k = n % len(scenarios)
            await submit(store, REF, inputs[k], model=scenarios[k].model, submitted_by="bench")
        while len(await store.list_runs(RunFilter(status="finished", limit=runs))) < runs:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - began
    finally:
        pool.stop()
        await store.close()
    return runs / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4, help="runs per worker at once")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PROCTOR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES,
        help="server URL (a schema of its own is created in it, and dropped)",
    )
    args = parser.parse_args()
    print(f"{args.runs} queued invoice runs, scripted models, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="proctor-queue-") as tmp:
        rate = await measure(
            str(Path(tmp) / "queue.db"),
            Path(tmp) / "sqlite",
            runs=args.runs,
            processes=1,
            concurrency=args.concurrency,
        )
        print(f"SQLite, 1 worker process:      {rate:6.1f} runs/s")
        try:
            with psycopg.connect(args.postgres, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            print(f"PostgreSQL: skipped, no server ({' '.join(str(exc).split())})")
            return
        joiner = "&" if "?" in args.postgres else "?"
        for processes in (1, 2, 4):
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            try:
                rate = await measure(
                    f"{args.postgres}{joiner}schema={schema}",
                    Path(tmp) / f"pg{processes}",
                    runs=args.runs,
                    processes=processes,
                    concurrency=args.concurrency,
                )
            finally:
                async with await psycopg.AsyncConnection.connect(
                    args.postgres, autocommit=True
                ) as conn:
                    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            print(f"PostgreSQL, {processes} worker process(es): {rate:6.1f} runs/s")


if __name__ == "__main__":
    asyncio.run(main())
