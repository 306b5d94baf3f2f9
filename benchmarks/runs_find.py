"""Finding runs in a large store: search, sort orders, totals and sessions.

Builds a store of ``--runs`` run rows (default 1,000,000; SQLite, or PostgreSQL with
``--postgres URL``, in a schema of its own that is dropped afterwards), spread over 30
days in start order and two tenants (nine in ten in ``default``), each with the summary row's search
text as the runtime writes it: a ~300-character JSON input, a ~120-character answer for
resolved runs, and the tools it proposed; one run in 20 belongs to a session of 5. Then
times each query of the runs list through the ``Store`` API, as ``GET /api/v1/runs`` and
the UI issue them for tenant ``default`` (a page of 51 rows, or the totals). Prints the
median and p90 of ``--repeats`` calls (totals capped at ``TOTALS_CAP``, as the UI and API
add them up, unless the row says uncapped); asserts nothing. ``--keep PATH`` keeps the
SQLite store there (and reuses it when it exists).

    python benchmarks/runs_find.py [--runs 1000000] [--repeats 7] [--postgres URL] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

import orjson

from proctor.store import TOTALS_CAP, PostgresStore, RunFilter, RunRecord, SQLiteStore, Store

DAY = 86_400.0
TOOLS = [
    "ocr.parse_invoice",
    "erp.lookup_vendor",
    "erp.fetch_po",
    "policy.check_thresholds",
    "erp.create_payment",
    "crm.lookup",
    "billing.refund",
    "kb.search",
]
WORDS = [
    "invoice",
    "vendor",
    "amount",
    "payment",
    "order",
    "net",
    "terms",
    "please",
    "due",
    "thanks",
    "urgent",
]
COLUMNS = [f.name for f in fields(RunRecord)]


def rows(count: int, now: float) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    made = []
    for n in range(count):
        # Rows arrive in start order, as a store fills (a few seconds of jitter).
        started = now - 30 * DAY * (1 - n / count) + rng.random() * 5
        duration = rng.uniform(0.5, 40.0)
        outcome = rng.choice(["resolved"] * 7 + ["escalated", "draft_only", "failed"])
        text = " ".join(rng.choice(WORDS) for _ in range(30))
        input = {"vendor_id": f"V-{rng.randint(1000, 9999)}", "invoice_text": text}
        used = rng.sample(TOOLS, rng.randint(1, 5))
        record = RunRecord(
            run_id=f"run_{n:016x}",
            workflow=rng.choice(["invoice_reconciliation", "support_triage"]),
            model=rng.choice(["scripted", "openai:gpt-4o-mini", "openai:gpt-4o"]),
            contract_name="invoice_reconciliation",
            contract_hash="c" * 64,
            trace_id="t" * 32,
            started_at=started,
            updated_at=started + duration,
            finished_at=started + duration,
            status="finished",
            outcome=outcome,  # type: ignore[arg-type]
            tool_calls=len(used),
            model_calls=rng.randint(2, 10),
            input_tokens=rng.randint(500, 5000),
            output_tokens=rng.randint(50, 500),
            cost_usd=None if n % 97 == 0 else rng.uniform(0.0005, 0.02),
            duration_s=duration,
            last_seq=12,
            head_hash="h" * 64,
            tenant="default" if n % 10 else "other",
            started_by="alice",
            session=f"chat-{n // 100}" if n % 20 < 5 else None,
            input_text=orjson.dumps(input).decode(),
            answer_text=f"Paid invoice INV-{n} for {text[:80]}" if outcome == "resolved" else "",
            tools_used=" ".join(used),
        )
        made.append(astuple(record))
    return made


async def fill_sqlite(store: SQLiteStore, made: list[tuple[Any, ...]]) -> None:
    await store.list_runs(RunFilter(limit=1))  # migrated
    sql = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    db = store._db
    db.execute("BEGIN")
    db.executemany(sql, made)
    db.execute("COMMIT")
    db.execute("ANALYZE")


async def fill_postgres(url: str, schema: str, made: list[tuple[Any, ...]]) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"SET search_path TO {schema}")
        async with (
            conn.cursor() as cur,
            cur.copy(f"COPY runs ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in made:
                await copy.write_row(row)
        await conn.execute("ANALYZE runs")


QUERIES: list[tuple[str, dict[str, Any], bool]] = [
    ("list, newest first (page of 51)", {}, False),
    ("search a word in many inputs", {"search": "urgent"}, False),
    ("search a run id prefix", {"search": "run_00000000000f42"}, False),
    ("search a tool name", {"search": "billing.refund"}, False),
    ("search an answer's invoice number", {"search": "inv-123456"}, False),
    ("search text no run has", {"search": "zebra"}, False),
    ("search, last 24 hours", {"search": "zebra", "since": -DAY}, False),
    ("sort by cost, costliest first", {"sort": "-cost"}, False),
    ("sort by duration, last 7 days", {"sort": "-duration", "since": -7 * DAY}, False),
    ("sort by status", {"sort": "status"}, False),
    ("a session's runs, in start order", {"session": "chat-4242", "sort": "started"}, False),
    ("totals (capped), every run of the tenant", {}, True),
    ("totals (capped), last 24 hours", {"since": -DAY}, True),
    ("totals (capped), outcome escalated", {"outcome": "escalated"}, True),
    ("totals (capped), a search", {"search": "urgent"}, True),
    ("totals (capped), a search no run matches", {"search": "zebra"}, True),
    ("totals, uncapped, every run of the tenant", {"cap": None}, True),
    ("totals, uncapped, last 24 hours", {"since": -DAY, "cap": None}, True),
]


async def measure(store: Store, now: float, repeats: int) -> None:
    print("| query (tenant default) | p50 ms | p90 ms | rows |")
    print("| --- | --- | --- | --- |")
    for label, given, totals in QUERIES:
        params = dict(given)
        cap = params.pop("cap", TOTALS_CAP)
        if "since" in params:
            params["since"] = now + params["since"]
        query = RunFilter(tenant="default", limit=51, **params)
        samples = []
        found: Any = None
        for _ in range(repeats):
            began = time.perf_counter()
            found = await (store.run_totals(query, cap=cap) if totals else store.list_runs(query))
            samples.append((time.perf_counter() - began) * 1000)
        samples.sort()
        p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
        size = f"{found.runs:,}{'+' if found.capped else ''}" if totals else f"{len(found):,}"
        print(f"| {label} | {statistics.median(samples):.1f} | {p90:.1f} | {size} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--postgres", metavar="URL", help="measure PostgreSQL at URL instead")
    parser.add_argument("--keep", metavar="PATH", type=Path, help="keep the SQLite store here")
    args = parser.parse_args()
    now = time.time()
    if args.keep is not None and args.keep.exists():
        kept = SQLiteStore(args.keep)
        try:
            newest = await kept.list_runs(RunFilter(limit=1))
            await measure(kept, newest[0].started_at, args.repeats)
        finally:
            await kept.close()
        return
    began = time.perf_counter()
    made = rows(args.runs, now)
    print(f"{args.runs:,} rows made in {time.perf_counter() - began:.1f} s")
    if args.postgres:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        store: Store = PostgresStore(f"{args.postgres}?schema={schema}")
        try:
            await store.list_runs(RunFilter(limit=1))  # migrated
            began = time.perf_counter()
            await fill_postgres(args.postgres, schema, made)
            print(f"copied in {time.perf_counter() - began:.1f} s")
            del made
            await measure(store, now, args.repeats)
        finally:
            await store.close()
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "runs.db"
        sqlite = SQLiteStore(path)
        try:
            began = time.perf_counter()
            await fill_sqlite(sqlite, made)
            size = path.stat().st_size
            print(f"inserted in {time.perf_counter() - began:.1f} s ({size / 1e6:,.0f} MB)")
            del made
            await measure(sqlite, now, args.repeats)
        finally:
            await sqlite.close()


if __name__ == "__main__":
    asyncio.run(main())
