"""Build a store of a million runs that Proctor reads as its own, for ``scale_figures.py``.

Each run is what the runtime records (``_scale_runs``): a summary row consistent with its
log (status, outcome, totals, search text, session), ``--events-per-run`` events (default
20) in one keyed hash chain (RFC 8785 hashes, keyed content digests, a MAC closing every
commit, an Ed25519 signature on every commit that decides: each run's end, each approval
asked for), and for a run awaiting approval its pending ``approvals`` row. So ``proctor
audit verify RUN`` passes for every run, checked for a sample at the end (through
the store API and as the command), and the first run of each outcome is rebuilt through
``RunJournal.build`` and compared row by row first. Nothing is left unsigned; no run is
sealed (the seeded runs redact nothing, so they hold no ``run_keys`` row), and the store
has no checkpoint (``proctor audit checkpoint`` makes one).

The mix: 83% resolved, 9% escalated, 5% failed, 3% awaiting approval; two tenants
(``default``, and ``acme`` with one run in ten); four workflows (45/30/20/5%) of their own
contract each; five models (one twice as often as each other, one without a price, so its
runs have no cost); started over the 30 days before now; one run in 20 in a session of
five consecutive runs; one run in 100,000 with the word ``quokka`` in its input. Run ids
are random, as the runtime's are. A run's events: ``run_started``, then per tool call
``model_called``, ``tool_proposed``, ``policy_decided``, sometimes ``credential_issued``,
``tool_started``, ``tool_finished`` (and sometimes ``values_seen``), then its end: the
answer and ``run_finished``; a denial, ``escalated`` and ``run_finished``; a failed tool
and ``run_finished``; or ``approval_requested``, where the run waits.

The schema is the product's: the store is opened (migrated) by ``SQLiteStore`` or
``PostgresStore`` first. SQLite is then loaded in bulk (``journal_mode=OFF``,
``synchronous=OFF``, a transaction per chunk): runs in start order, as the runtime writes
them (so a walk in start order reads the table in order, as it would), events in primary
key order (the runtime's land in time order, scattered over the key; one run's events are
a few pages either way), the secondary indexes and the chain trigger dropped meanwhile and
made again from the very SQL the migrations wrote. ``ANALYZE`` only with ``--analyze``: a
store grown by the runtime has the statistics its migrations took, of empty tables. The
runs are made by ``--jobs`` processes (default: the CPU count). PostgreSQL is loaded with
``COPY``, the chain trigger disabled meanwhile, then ``ANALYZE`` (as autovacuum would).

The keys are the Proctor home's (``--home``, default ``$PROCTOR_HOME``): use the same home
for ``proctor audit verify`` and ``proctor serve``.

    nice -n 10 python benchmarks/seed_scale.py --runs 1000000 --events-per-run 20 \\
        --out /data/scale.db [--postgres URL] [--home DIR] [--analyze] [--jobs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _scale_flows import DAY, FLOWS, OUTCOME_WEIGHTS, OUTCOMES
from _scale_runs import RunMaker, check_against_journal

from proctor.store import (
    PostgresStore,
    RunFilter,
    SQLiteStore,
    Store,
    load_evidence_keys,
    verify_run,
)
from proctor.store._keyfiles import load_signing_key
from proctor.store._rollup_sql import FILL as FILL_DAILY_SUMS
from proctor.store._rows import APPROVAL_COLUMNS, EVENT_COLUMNS, RUN_COLUMNS, contract_params
from proctor.store._text_index import catch_up as index_search_text
from proctor.store._text_index import has_index as has_search_index

CHUNK = 2_000
STAGED = "seed_runs"
"""Where the runs rows wait, to go into ``runs`` in start order (the order the runtime
writes them in, so a walk of the runs in start order reads the table in order too)."""
CONTRACT_COLUMNS = ("content_hash", "workflow", "version", "body", "retention_days", "created_at")
PROCTOR = Path(sys.executable).with_name("proctor")
Plan = tuple[str, float, str, str | None, str, bool]
"""A run to make: id, start, tenant, session, outcome, and whether its input has the rare word."""
Chunk = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def plan(count: int, now: float, seed: int) -> list[Plan]:
    """Every run's id, start and place in the mix, in run id order (the primary key's)."""
    rng = random.Random(seed)
    ids: set[int] = set()
    while len(ids) < count:
        ids.add(rng.getrandbits(64))
    ranks = list(range(count))
    rng.shuffle(ranks)  # run ids are random: their order says nothing of their start
    outcomes = rng.choices(OUTCOMES, OUTCOME_WEIGHTS, k=count)
    made: list[Plan] = []
    for index, run_id in enumerate(sorted(ids)):
        rank = ranks[index]  # the run's place in start order
        started = now - 30 * DAY + (rank + rng.random()) * (30 * DAY / count)
        # Five consecutive runs of every hundred share a session (a conversation), in one
        # tenant: a tenant goes with blocks of five runs.
        session = f"chat-{rank // 100:06d}" if rank % 100 < 5 else None
        tenant = "acme" if (rank // 5) % 10 == 7 else "default"
        made.append(
            (f"run_{run_id:016x}", started, tenant, session, outcomes[index], rank % 100_000 == 42)
        )
    return made


_maker: RunMaker | None = None


def _start_worker(home: str) -> None:
    global _maker
    _maker = RunMaker(load_evidence_keys(Path(home)), load_signing_key(Path(home)), random.Random())


def make_chunk(number: int, seed: int, per_run: int, runs: list[Plan]) -> Chunk:
    """The rows of ``runs`` (a worker's task); the first chunk checks each outcome's first
    run against ``RunJournal.build``."""
    assert _maker is not None
    _maker.rng.seed(seed * 1_000_003 + number)
    made: Chunk = ([], [], [])
    checked: set[str] = set()
    for run_id, started, tenant, session, outcome, rare in runs:
        seeded = _maker.make(
            run_id=run_id,
            started=started,
            tenant=tenant,
            session=session,
            per_run=per_run,
            outcome=outcome,
            rare=rare,
        )
        if number == 0 and outcome not in checked:
            checked.add(outcome)
            problem = check_against_journal(seeded, _maker.keys)
            if problem is not None:
                raise SystemExit(f"the seeded log is not what RunJournal.build makes: {problem}")
        made[0].append(seeded.run)
        made[1].extend(seeded.events)
        if seeded.approval is not None:
            made[2].append(seeded.approval)
    return made


def chunks(runs: list[Plan], *, jobs: int, home: Path, seed: int, per_run: int) -> Iterator[Chunk]:
    """The rows of ``runs`` a chunk at a time, in order, made by ``jobs`` processes (a
    few chunks ahead at most, so memory stays flat)."""
    parts = [runs[at : at + CHUNK] for at in range(0, len(runs), CHUNK)]
    if jobs <= 1:
        _start_worker(str(home))
        for number, part in enumerate(parts):
            yield make_chunk(number, seed, per_run, part)
        return
    with multiprocessing.get_context("fork").Pool(
        jobs, initializer=_start_worker, initargs=(str(home),)
    ) as pool:
        waiting: deque[AsyncResult[Chunk]] = deque()
        for number, part in enumerate(parts):
            waiting.append(pool.apply_async(make_chunk, (number, seed, per_run, part)))
            if len(waiting) > 2 * jobs:
                yield waiting.popleft().get()
        while waiting:
            yield waiting.popleft().get()


def insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.began = total, 0, time.perf_counter()

    def add(self, runs: int) -> None:
        before, self.done = self.done, self.done + runs
        if self.done // 50_000 != before // 50_000 or self.done == self.total:
            spent = time.perf_counter() - self.began
            print(f"  {self.done:,} runs in {spent:.0f} s ({self.done / spent:,.0f} runs/s)")


async def migrate(store: Store) -> None:
    """Bring the store to the product's schema (PostgreSQL migrates on first use)."""
    try:
        await store.list_runs(RunFilter(limit=1))
    finally:
        await store.close()


def contract_rows(now: float) -> list[tuple[Any, ...]]:
    """The flows' contracts, first used just before the oldest run."""
    return [contract_params(replace(flow.contract, created_at=now - 31 * DAY)) for flow in FLOWS]


def seed_sqlite(path: Path, runs: list[Plan], args: argparse.Namespace, now: float) -> None:
    asyncio.run(migrate(SQLiteStore(path, checkpoints=None)))
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE"):
        db.execute(f"PRAGMA {pragma}").fetchall()
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB: the indexes built at the end sort in it
    # The secondary indexes and the chain trigger, made again after the load by their own SQL.
    later = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND sql IS NOT NULL AND tbl_name IN ('runs', 'events', 'approvals')"
    ).fetchall()
    for kind, name, _ in later:
        db.execute(f"DROP {kind.upper()} {name}")
    db.executemany(insert_sql("contracts", CONTRACT_COLUMNS), contract_rows(now))
    db.execute(f"CREATE TABLE {STAGED} AS SELECT * FROM runs WHERE 0")
    statements = (
        insert_sql(STAGED, RUN_COLUMNS),
        insert_sql("events", EVENT_COLUMNS),
        insert_sql("approvals", APPROVAL_COLUMNS),
    )
    progress = Progress(len(runs))
    made = chunks(runs, jobs=args.jobs, home=args.home, seed=args.seed, per_run=args.events_per_run)
    for part in made:
        db.execute("BEGIN")
        for sql, rows in zip(statements, part, strict=True):
            db.executemany(sql, rows)
        db.execute("COMMIT")
        progress.add(len(part[0]))
    began = time.perf_counter()
    db.execute(f"INSERT INTO runs SELECT * FROM {STAGED} ORDER BY started_at")
    db.execute(f"DROP TABLE {STAGED}")
    print(f"runs rows put in start order in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()
    for *_, sql in later:
        db.execute(sql)
    print(f"{len(later)} indexes and triggers made again in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()  # the report's daily sums, whose triggers were off meanwhile
    db.executescript(FILL_DAILY_SUMS)
    print(f"daily sums filled in {time.perf_counter() - began:.0f} s")
    if has_search_index(db):  # its triggers were off too: every run, as migration 23 does
        began = time.perf_counter()
        db.execute("INSERT OR IGNORE INTO runs_text_queue (run_id) SELECT run_id FROM runs")
        indexed = index_search_text(db)
        print(f"search index: {indexed:,} runs in {time.perf_counter() - began:.0f} s")
    if args.analyze:
        began = time.perf_counter()
        db.execute("ANALYZE")
        print(f"ANALYZE in {time.perf_counter() - began:.0f} s")
    db.execute("PRAGMA journal_mode=WAL").fetchall()  # as the product keeps it
    db.close()


def seed_postgres(url: str, runs: list[Plan], args: argparse.Namespace, now: float) -> None:
    import psycopg

    asyncio.run(migrate(PostgresStore(url)))
    base, _, query = url.partition("?")
    schema = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("schema")
    with psycopg.connect(base, autocommit=True) as conn:
        if schema:
            conn.execute(f"SET search_path TO {schema}")
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_extend_chain")
        columns = ", ".join(CONTRACT_COLUMNS)
        with conn.cursor().copy(f"COPY contracts ({columns}) FROM STDIN") as cp:
            for row in contract_rows(now):
                cp.write_row(row)
        conn.execute(f"CREATE UNLOGGED TABLE {STAGED} AS SELECT * FROM runs WHERE false")
        progress = Progress(len(runs))
        tables: list[tuple[str, Sequence[str]]] = [
            (STAGED, RUN_COLUMNS),
            ("events", EVENT_COLUMNS),
            ("approvals", APPROVAL_COLUMNS),
        ]
        made = chunks(
            runs, jobs=args.jobs, home=args.home, seed=args.seed, per_run=args.events_per_run
        )
        for part in made:
            with conn.transaction():
                for (table, names), rows in zip(tables, part, strict=True):
                    with conn.cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(row)
            progress.add(len(part[0]))
        conn.execute(f"INSERT INTO runs SELECT * FROM {STAGED} ORDER BY started_at")
        conn.execute(f"DROP TABLE {STAGED}")
        conn.execute("ALTER TABLE events ENABLE TRIGGER events_extend_chain")
        conn.execute("ANALYZE")


def check_sample(location: str, runs: list[Plan], home: Path) -> bool:
    """Verify a few runs (one of each outcome, one in a session) with the home's keys,
    through the store API and as ``proctor audit verify RUN``."""
    sample: dict[str, str] = {}
    for run_id, _, _, session, outcome, _ in runs[len(runs) // 2 :]:
        if session is not None and "in a session" not in sample:
            sample["in a session"] = run_id
        elif session is None:
            sample.setdefault(outcome, run_id)
        if len(sample) == len(OUTCOMES) + 1:
            break

    async def verified() -> list[str]:
        from proctor.store import open_store

        store = open_store(location, create=False)
        keys = load_evidence_keys(home)
        try:
            reports = [await verify_run(store, run_id, keys) for run_id in sample.values()]
        finally:
            await store.close()
        return [f"{report.run_id}: {report.problem}" for report in reports if not report.ok]

    problems = asyncio.run(verified())
    env = {**os.environ, "PROCTOR_HOME": str(home), "NO_COLOR": "1"}
    for what, run_id in sample.items():
        done = subprocess.run(
            [str(PROCTOR), "--db", location, "audit", "verify", run_id],
            env=env,
            capture_output=True,
            text=True,
        )
        said = (done.stdout + done.stderr).strip().splitlines()
        print(f"  proctor audit verify {run_id} ({what}): exit {done.returncode}: {said[0]}")
        if done.returncode:
            problems.append(f"{run_id}: {' '.join(said)}")
    for problem in problems:
        print(f"  NOT VERIFIED {problem}")
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--events-per-run", type=int, default=20)
    parser.add_argument("--out", type=Path, help="the SQLite file to build (must not exist)")
    parser.add_argument("--postgres", metavar="URL", help="build in PostgreSQL (?schema=NAME)")
    parser.add_argument("--home", type=Path, default=None, help="Proctor home with the keys")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE the SQLite store")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    if (args.out is None) == (args.postgres is None):
        parser.error("give --out PATH (SQLite) or --postgres URL")
    if args.events_per_run < 17:  # 10 after the start and the longest end: two steps
        parser.error("--events-per-run must be 17 or more (a run's steps and its end)")
    if args.out is not None and args.out.exists():
        parser.error(f"{args.out} exists; remove it or choose another --out")
    args.home = (args.home or Path(os.environ.get("PROCTOR_HOME") or ".proctor")).resolve()
    load_evidence_keys(args.home)  # made now if the home has none, before the workers read it
    now = time.time()
    began = time.perf_counter()
    runs = plan(args.runs, now, args.seed)
    print(f"{args.runs:,} runs planned in {time.perf_counter() - began:.0f} s")
    if args.out is not None:
        seed_sqlite(args.out, runs, args, now)
        location = str(args.out.resolve())
        size = f", {args.out.stat().st_size / 1e9:.1f} GB"
    else:
        seed_postgres(args.postgres, runs, args, now)
        location, size = args.postgres, ""
    events = args.runs * args.events_per_run
    spent = time.perf_counter() - began
    print(f"{args.runs:,} runs, {events:,} events in {spent:.0f} s{size}: {location}")
    ok = check_sample(location, runs, args.home)
    print("sample verified" if ok else "sample NOT verified")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
