"""Event appends per second and read latency, on SQLite and on PostgreSQL.

Rows are sealed (hashed) before the clock starts, so the figures are the store's: one
event per transaction, the same with the run row upserted (a typical step's write),
batches of ``--batch`` events, and ``--writers`` runs appending side by side. Then
``get_run`` and ``list_runs`` (a page of 50 of ``--runs`` runs) latency. PostgreSQL runs
in a schema of its own, dropped afterwards; without a server its figures are skipped.
Prints figures; asserts nothing about time.

    python benchmarks/store_appends.py [--events 2000] [--batch 50] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from proctor.errors import StoreError
from proctor.store import (
    EventRow,
    ModelCalled,
    PostgresStore,
    RecordedToolCall,
    RunFilter,
    RunJournal,
    RunRecord,
    RunStarted,
    SQLiteStore,
    Store,
    Usage,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def turn(n: int) -> ModelCalled:
    """A model call event of typical size (~600 bytes of metadata and content)."""
    return ModelCalled(
        model="openai:gpt-4o-mini",
        turn=n,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=1200, output_tokens=80),
        cost_usd=0.00023,
        latency_ms=812.5,
        tool_call_count=1,
        tool_calls=[
            RecordedToolCall(
                id=f"call_{n}", name="erp.fetch_po", arguments={"po_number": f"PO-{n:05d}"}
            )
        ],
        text="Looking up the purchase order before matching the invoice lines.",
    )


async def new_run(store: Store, run_id: str, at: float) -> tuple[RunJournal, RunRecord]:
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    started = RunStarted(
        workflow="invoices",
        model="openai:gpt-4o-mini",
        contract_name="invoices",
        contract_version="1",
        contract_hash="c" * 64,
        input={"po_number": "PO-1001", "invoice": "INV-7"},
    )
    row, _ = journal.build(started, ts=at)
    run = RunRecord(
        run_id=run_id,
        workflow="invoices",
        model="openai:gpt-4o-mini",
        contract_name="invoices",
        contract_hash="c" * 64,
        trace_id="t" * 32,
        started_at=at,
        updated_at=at,
        last_seq=journal.last_seq,
        head_hash=journal.head_hash,
    )
    await store.create_run(run, row)
    return journal, run


def seal(journal: RunJournal, count: int) -> list[EventRow]:
    """``count`` rows extending the journal's chain, built (and hashed) ahead of time."""
    rows = []
    for n in range(count):
        row, _ = journal.build(turn(n))
        rows.append(row)
    return rows


async def appends_per_second(
    store: Store, run_id: str, events: int, batch: int, *, with_run: bool
) -> float:
    journal, run = await new_run(store, run_id, time.time())
    rows = seal(journal, events)
    started = time.perf_counter()
    for first in range(0, events, batch):
        chunk = rows[first : first + batch]
        if with_run:
            run.last_seq, run.head_hash = chunk[-1].seq, chunk[-1].hash
        await store.append(chunk, run=run if with_run else None)
    return events / (time.perf_counter() - started)


async def concurrent_appends(store: Store, prefix: str, writers: int, events: int) -> float:
    """Events per second, all writers together, each appending one event at a time."""
    journals = [(await new_run(store, f"{prefix}-{w}", time.time()))[0] for w in range(writers)]
    sealed = [seal(journal, events) for journal in journals]

    async def write(rows: list[EventRow]) -> None:
        for row in rows:
            await store.append([row])

    started = time.perf_counter()
    await asyncio.gather(*(write(rows) for rows in sealed))
    return writers * events / (time.perf_counter() - started)


async def latency_ms(call: Callable[[], Awaitable[object]], repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def measure(name: str, store: Store, args: argparse.Namespace) -> None:
    print(f"{name}:")
    for label, batch, with_run in (
        ("1 event per append", 1, False),
        ("1 event + run row per append", 1, True),
        (f"{args.batch} events per append", args.batch, False),
    ):
        rate = await appends_per_second(
            store, f"bench-{batch}-{with_run}", args.events, batch, with_run=with_run
        )
        print(f"  {label:34}: {rate:9,.0f} events/s")
    rate = await concurrent_appends(store, "writer", args.writers, args.events // args.writers)
    print(f"  {args.writers} runs appending at once (1 each) : {rate:9,.0f} events/s")
    for n in range(args.runs):
        await new_run(store, f"listed-{n:05d}", 1_000_000.0 + n)
    p50, p99 = await latency_ms(lambda: store.get_run("listed-00042"), args.repeats)
    print(f"  get_run                           : p50 {p50:6.3f} ms, p99 {p99:6.3f} ms")
    page = RunFilter(limit=50)
    p50, p99 = await latency_ms(lambda: store.list_runs(page), args.repeats)
    print(f"  list_runs (50 of {args.runs:,} runs)       : p50 {p50:6.3f} ms, p99 {p99:6.3f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PROCTOR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES,
        help="server URL (a schema of its own is created in it, and dropped)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "bench.db")
        try:
            await measure("SQLite (WAL, synchronous=NORMAL)", sqlite, args)
        finally:
            await sqlite.close()

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    joiner = "&" if "?" in args.postgres else "?"
    postgres = PostgresStore(f"{args.postgres}{joiner}schema={schema}")
    try:
        await postgres.open()
    except StoreError as exc:
        print(f"PostgreSQL: skipped ({exc})")
        return
    try:
        await measure(
            f"PostgreSQL (pool of {postgres.max_size}, {postgres.location.where})", postgres, args
        )
    finally:
        await postgres.close()
        await drop(args.postgres, schema)


async def drop(server: str, schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    asyncio.run(main())
