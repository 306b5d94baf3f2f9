"""What only the PostgreSQL store has: its URL, its schema versions, and chains that the
database itself keeps linear when writers race from several processes.

The shared contract (every backend) is in test_sqlite_store.py and test_store_scoping.py;
the tests here need the server too (``postgres_url``: a fresh schema, dropped after).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from proctor.errors import ChainConflictError, StoreError, UsageError
from proctor.store import (
    EventRow,
    GatewayCallRecord,
    ModelCalled,
    PostgresStore,
    RunFilter,
    RunJournal,
    RunRecord,
    RunStarted,
    SQLiteStore,
    Store,
    Usage,
    open_store,
    verify_run,
)
from proctor.store._migrations import MIGRATIONS, POSTGRES_MIGRATIONS, SCHEMA_VERSION
from proctor.store._postgres import POSTGRES
from proctor.store._postgres_pool import VERSION_TABLE, parse_postgres_url
from proctor.store._rollup_sql import TABLES as ROLLUP_TABLES
from proctor.store._rows import run_filter_sql
from proctor.store._text_index import SHADOW_TABLES as TEXT_INDEX_SHADOWS
from proctor.store._text_index import TABLES as TEXT_INDEX_TABLES


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_url, max_size=2)
    try:
        yield store
    finally:
        await store.close()


async def raw(url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """A plain connection to the server, outside any store and its search path."""
    return await psycopg.AsyncConnection.connect(parse_postgres_url(url).conninfo, autocommit=True)


def started(input: dict[str, object] | None = None) -> RunStarted:
    return RunStarted(
        workflow="invoices",
        model="scripted",
        contract_name="invoices",
        contract_version="1",
        contract_hash="c" * 64,
        input=input or {},
    )


def model_turn(turn: int) -> ModelCalled:
    return ModelCalled(
        model="scripted",
        turn=turn,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=1, output_tokens=1),
        latency_ms=1.0,
        tool_call_count=0,
        cost_usd=0.0,
    )


def record(run_id: str, started_at: float) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow="invoices",
        model="scripted",
        contract_name="invoices",
        contract_hash="c" * 64,
        trace_id="t" * 32,
        started_at=started_at,
        updated_at=started_at,
    )


async def start_run(
    store: Store, run_id: str, *, started_at: float = 1000.0, data: RunStarted | None = None
) -> tuple[RunJournal, RunRecord]:
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    row, _ = journal.build(data or started(), ts=started_at)
    run = record(run_id, started_at)
    run.last_seq, run.head_hash = journal.last_seq, journal.head_hash
    await store.create_run(run, row)
    return journal, run


def schema_of(url: str) -> str:
    schema = parse_postgres_url(url).schema
    assert schema is not None
    return schema


# open_store and URLs (no server needed: a store connects on first use) -------------------


def test_open_store_accepts_postgresql_urls_and_hides_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for url in (
        "postgresql://proctor:s3cret@db.internal:6432/runs?schema=prod&sslmode=require",
        "postgres://proctor:s3cret@db.internal:6432/runs?schema=prod&sslmode=require",
    ):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        assert store.schema == "prod"
        assert "s3cret" not in store.url
        assert store.url.endswith("proctor@db.internal:6432/runs?schema=prod&sslmode=require")
        assert store.location.where == "db.internal:6432/runs"
        # The schema parameter is Proctor's: libpq would refuse it.
        assert "schema" not in store.location.conninfo
    monkeypatch.setenv("PROCTOR_DB", "postgresql://localhost/runs")
    from_env = open_store()
    assert isinstance(from_env, PostgresStore)
    assert (from_env.schema, from_env.location.where) == (None, "localhost:5432/runs")


def test_a_password_in_the_query_is_hidden_too() -> None:
    store = PostgresStore("postgresql://db/runs?user=proctor&password=s3cret&schema=prod")
    assert "s3cret" not in store.url
    assert "user=proctor" in store.url


@pytest.mark.parametrize("schema", ["Prod", "1st", "pg_catalog", "a-b", "a;drop", ""])
def test_a_schema_that_is_not_a_plain_lowercase_name_is_refused(schema: str) -> None:
    with pytest.raises(UsageError, match="invalid schema"):
        open_store(f"postgresql://localhost/runs?schema={schema}")


def test_unknown_url_schemes_name_the_supported_ones() -> None:
    with pytest.raises(UsageError, match=r"'mysql'.*postgresql://"):
        open_store("mysql://localhost/proctor")


def test_a_bad_pool_size_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_DB_POOL_MAX", "lots")
    with pytest.raises(UsageError, match="PROCTOR_DB_POOL_MAX='lots' must be a positive"):
        PostgresStore("postgresql://localhost/runs")


async def test_an_unreachable_server_is_a_store_error_naming_the_fix() -> None:
    store = PostgresStore("postgresql://proctor:s3cret@127.0.0.1:1/runs")
    try:
        with pytest.raises(StoreError) as raised:
            await store.get_run("run-1")
    finally:
        await store.close()
    message = str(raised.value)
    assert message.startswith("cannot connect to PostgreSQL at 127.0.0.1:1/runs: ")
    assert "Check the URL in --db/PROCTOR_DB" in message
    assert "s3cret" not in message


# Schema versions and migrations -------------------------------------------------------------


async def test_every_migration_has_sql_for_both_backends() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION
    assert all(m.sqlite.strip() and m.postgres.strip() for m in MIGRATIONS)


async def test_both_backends_have_the_same_tables_and_columns(
    pg: PostgresStore, tmp_path: Path
) -> None:
    """A migration added to one backend only would leave the other behind."""
    await pg.open()
    sqlite_store = SQLiteStore(tmp_path / "same.db")
    await sqlite_store.close()
    with closing(sqlite3.connect(sqlite_store.path)) as db:
        tables = [  # not SQLite's own (sqlite_stat1, which migration 16's ANALYZE makes)
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite%'"
            )
            # The daily sums its triggers keep (migration 19), the search index (23).
            if row[0] not in (*ROLLUP_TABLES, *TEXT_INDEX_TABLES, *TEXT_INDEX_SHADOWS)
        ]
        in_sqlite = {
            (table, row[1]) for table in tables for row in db.execute(f"PRAGMA table_info({table})")
        }
    async with await raw(pg.url) as conn:
        cursor = await conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name != %s",
            (schema_of(pg.url), VERSION_TABLE),
        )
        in_postgres = set(await cursor.fetchall())
    assert in_postgres == in_sqlite


async def test_the_run_search_has_trigram_indexes_the_planner_uses(pg: PostgresStore) -> None:
    await pg.open()
    schema = schema_of(pg.url)
    async with await raw(pg.url) as conn:
        cursor = await conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = %s AND indexname LIKE 'runs_search_%%'",
            (schema,),
        )
        found = {str(name): str(definition) for name, definition in await cursor.fetchall()}
        assert set(found) == {"runs_search_input", "runs_search_answer", "runs_search_tools"}
        assert all("gin_trgm_ops" in definition for definition in found.values())
        # On a table this small a scan is cheaper: with scans priced out, the search's
        # own SQL (every column it matches) is served by the indexes alone.
        where, params = run_filter_sql(
            RunFilter(search="quokka"), "ILIKE", id_like=POSTGRES.id_like
        )
        await conn.execute(f"SET search_path = {schema}")
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            await conn.execute(f"SET enable_{scan} = off")
        sql = f"EXPLAIN SELECT r.run_id FROM runs r {where}"
        cursor = await conn.execute(sql.replace("?", "%s"), params)
        plan = "\n".join(str(row[0]) for row in await cursor.fetchall())
    assert "BitmapOr" in plan, plan
    for index in (
        "runs_search_input",
        "runs_search_answer",
        "runs_search_tools",
        "runs_by_lower_id",
    ):
        assert f"Bitmap Index Scan on {index}" in plan, plan


async def test_a_new_schema_is_created_at_the_current_version(pg: PostgresStore) -> None:
    assert await pg.schema_version() == 0
    assert await pg.list_runs(RunFilter()) == []  # the first call migrates
    assert await pg.schema_version() == SCHEMA_VERSION
    assert await pg.upgrade() == (SCHEMA_VERSION, SCHEMA_VERSION)


async def test_a_newer_schema_refuses_to_open(postgres_url: str) -> None:
    first = PostgresStore(postgres_url)
    try:
        await first.open()
    finally:
        await first.close()
    async with await raw(postgres_url) as conn:
        await conn.execute(
            f"UPDATE {schema_of(postgres_url)}.{VERSION_TABLE} SET version = %s",
            (SCHEMA_VERSION + 1,),
        )

    newer = PostgresStore(postgres_url)
    try:
        with pytest.raises(StoreError, match="Upgrade Proctor to open it") as raised:
            await newer.get_run("run-1")
        with pytest.raises(StoreError, match="newer than this Proctor knows"):
            await newer.upgrade()
    finally:
        await newer.close()
    assert f"schema version {SCHEMA_VERSION + 1}, newer" in str(raised.value)


async def test_a_version_1_schema_is_migrated_and_keeps_its_runs(postgres_url: str) -> None:
    schema = schema_of(postgres_url)
    async with await raw(postgres_url) as conn:  # as the first Proctor with PostgreSQL left it
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path = {schema}")
        await conn.execute(POSTGRES_MIGRATIONS[0])
        await conn.execute(f"CREATE TABLE {VERSION_TABLE} (one BOOLEAN, version INTEGER)")
        await conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES (TRUE, 1)")
        await conn.execute(
            "INSERT INTO runs (run_id, workflow, model, contract_name, contract_hash, "
            "trace_id, status, started_at, updated_at, last_seq, head_hash) "
            "VALUES ('run-1', 'invoices', 'scripted', 'c', 'h', 't', 'finished', 1, 1, 0, 'x')"
        )

    store = PostgresStore(postgres_url)
    try:
        assert await store.upgrade() == (1, SCHEMA_VERSION)
        migrated = await store.get_run("run-1")
        assert migrated is not None
        assert (migrated.tenant, migrated.started_by) == ("default", "")
        await store.cache_put("k", b"v", expires_at=2000.0)
        assert await store.cache_get("k", now=1000.0) == b"v"
    finally:
        await store.close()


async def test_stores_opening_a_new_schema_at_once_migrate_it_once(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url, max_size=1) for _ in range(8)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        assert {await store.schema_version() for store in stores} == {SCHEMA_VERSION}
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    async with await raw(postgres_url) as conn:
        rows = await conn.execute(f"SELECT version FROM {schema_of(postgres_url)}.{VERSION_TABLE}")
        assert await rows.fetchall() == [(SCHEMA_VERSION,)]


@pytest.mark.slow
def test_processes_opening_a_new_schema_at_once_migrate_it_once(postgres_url: str) -> None:
    # Every process waits for the same instant, so they open the new schema together.
    code = (
        "import asyncio, sys, time\n"
        "from proctor.store import PostgresStore\n"
        "async def main():\n"
        "    store = PostgresStore(sys.argv[1])\n"
        "    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "    await store.open()\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    start = str(time.time() + 2.0)
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_url, start]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    assert asyncio.run(_version(postgres_url)) == SCHEMA_VERSION


async def _version(url: str) -> int:
    store = PostgresStore(url, migrate=False)
    try:
        return await store.schema_version()
    finally:
        await store.close()


# The chain, as the database keeps it ------------------------------------------------------


def writer_at(store: Store, head: EventRow) -> RunJournal:
    """A writer of run-1 that believes ``head`` is the run's last event."""
    return RunJournal(
        store,
        run_id="run-1",
        trace_id="t" * 32,
        root_span_id="root",
        last_seq=head.seq,
        head_hash=head.hash,
    )


async def test_two_writers_racing_for_the_same_seq_one_wins(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url, max_size=1) for _ in range(2)]
    try:
        await start_run(stores[0], "run-1")
        head = (await stores[0].events("run-1"))[-1]
        for turn in range(1, 11):  # ten rounds: each has exactly one winner
            journals = [writer_at(store, head) for store in stores]
            outcomes = await asyncio.gather(
                *(journal.append([model_turn(turn)]) for journal in journals),
                return_exceptions=True,
            )
            conflicts = [o for o in outcomes if isinstance(o, ChainConflictError)]
            assert len(conflicts) == 1, outcomes
            assert f"run-1 at seq {turn}" in str(conflicts[0])
            head = (await stores[1].events("run-1", after=turn - 1))[0]
        assert [row.seq for row in await stores[1].events("run-1")] == list(range(11))
        assert (await verify_run(stores[1], "run-1")).ok
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_a_writer_that_lost_races_keeps_writing(postgres_url: str) -> None:
    # psycopg prepares a statement on its sixth use and counts it prepared once the
    # PREPARE is sent; in a lost race the server skips a PREPARE queued behind the failed
    # insert. Taking turns (the run's creator first), the second connection's COMMIT
    # reaches its sixth use in a lost race, and its next write used to fail with
    # 'prepared statement "_pg3_3" does not exist' instead of writing.
    stores = [PostgresStore(postgres_url, max_size=1) for _ in range(2)]
    try:
        await start_run(stores[0], "run-1")
        for turn in range(1, 15):
            winner, loser = stores[(turn + 1) % 2], stores[turn % 2]
            head = (await loser.events("run-1"))[-1]
            first, second = (writer_at(store, head) for store in (winner, loser))
            await first.append([model_turn(turn)])
            with pytest.raises(ChainConflictError):
                await second.append([model_turn(turn)])
        assert [row.seq for row in await stores[0].events("run-1")] == list(range(15))
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_the_database_refuses_rows_that_do_not_extend_the_head(pg: PostgresStore) -> None:
    journal, _ = await start_run(pg, "run-1")
    await journal.append([model_turn(1)])
    head = (await pg.events("run-1"))[-1]
    insert = (
        f"INSERT INTO {schema_of(pg.url)}.events (run_id, seq, type, ts, trace_id, span_id, meta, "
        "content_digest, prev_hash, hash) VALUES (%s, %s, 't', 0, 't', 's', '{}', 'd', %s, 'h')"
    )
    refused = {
        "a forked link": ("run-1", 2, "f" * 64),
        "a gap": ("run-1", 3, head.hash),
        "a second event at an existing seq": ("run-1", 1, (await pg.events("run-1"))[0].hash),
        "a first event not at seq 0": ("run-2", 1, "0" * 64),
        "a negative seq": ("run-3", -1, "0" * 64),
    }
    # A plain session, with the server's default search path: the trigger still checks
    # the store's own events table.
    async with await raw(pg.url) as conn:
        for case, params in refused.items():
            with pytest.raises(psycopg.IntegrityError) as raised:
                await conn.execute(insert, params)
            assert raised.value.diag.table_name == "events", case
        await conn.execute(insert, ("run-1", 2, head.hash))  # extending the head is fine
    assert [row.seq for row in await pg.events("run-1")] == [0, 1, 2]


async def test_a_forked_row_through_the_store_is_a_chain_conflict(pg: PostgresStore) -> None:
    journal, _ = await start_run(pg, "run-1")
    row, _ = journal.build(model_turn(1))
    forked = dataclasses.replace(row, prev_hash="f" * 64)

    with pytest.raises(ChainConflictError, match="does not extend the chain head"):
        await pg.append([forked])
    with pytest.raises(ChainConflictError, match="duplicate key"):
        await start_run(pg, "run-1")


# Values, connections, closing ----------------------------------------------------------


async def test_awkward_values_round_trip_exactly(store: Store) -> None:
    """Every backend returns what the chain hash was computed over (jsonb would not)."""
    awkward = {
        "negative_zero": -0.0,
        "huge": 1.5e300,
        "tiny": 5e-324,
        "big_int": 2**62,
        "text": 'nul \u0000, accents é, emoji 🧾, quote " and backslash \\',
        "order": {"b": 1, "a": 2},
    }
    _, run = await start_run(store, "run-1", started_at=1717171717.1234567, data=started(awkward))

    (row,) = await store.events("run-1")
    assert row.content is not None
    assert row.content["input"] == awkward
    assert math.copysign(1.0, row.content["input"]["negative_zero"]) == -1.0
    assert row.ts == 1717171717.1234567
    assert await store.get_run("run-1") == run
    assert (await verify_run(store, "run-1")).ok


async def test_a_closed_store_is_a_store_error(pg: PostgresStore) -> None:
    await pg.open()
    await pg.close()
    with pytest.raises(StoreError, match="is closed"):
        await pg.get_run("run-1")
    with pytest.raises(StoreError, match="is closed"):
        await pg.cache_get("k", now=0.0)


async def test_the_pool_serves_concurrent_callers_beyond_its_size(pg: PostgresStore) -> None:
    await asyncio.gather(*(start_run(pg, f"run-{n}", started_at=float(n)) for n in range(10)))
    runs = await pg.list_runs(RunFilter())
    assert [run.run_id for run in runs] == [f"run-{n}" for n in reversed(range(10))]


async def test_url_parameters_reach_the_server(postgres_url: str) -> None:
    # libpq reads `+` as itself: a space in a parameter must travel as %20.
    url = f"{postgres_url}&options=-c%20statement_timeout%3D4321&application_name=my%20app"
    store = PostgresStore(url)
    try:
        async with store._connection() as conn:
            cursor = await conn.execute(
                "SELECT current_setting('statement_timeout'), current_setting('search_path'), "
                "current_setting('application_name')"
            )
            settings = await cursor.fetchone()
    finally:
        await store.close()
    assert settings == ("4321ms", schema_of(postgres_url), "my app")


# Contract cases the shared files lack (every backend) -------------------------------------


async def test_the_gateway_ledger_sums_spend_and_lists_newest_first(store: Store) -> None:
    calls = [
        GatewayCallRecord(ts=10.0, key_name="team-a", route="default", cost_usd=0.25),
        GatewayCallRecord(ts=20.0, key_name="team-a", route="default", cost_usd=None),
        GatewayCallRecord(
            ts=30.0,
            key_name="team-b",
            route="strong",
            deployment="large",
            model="gpt-4o",
            input_tokens=12,
            output_tokens=3,
            cost_usd=1.5,
            latency_ms=812.5,
            cache_hit=True,
            status=200,
        ),
        GatewayCallRecord(
            ts=40.0, key_name="team-a", route="default", cost_usd=0.5, status=429, error="rate"
        ),
    ]
    await store.record_gateway_calls(calls)
    await store.record_gateway_calls([])

    assert await store.gateway_spend("team-a", since=0.0) == 0.75
    assert await store.gateway_spend("team-a", since=15.0) == 0.5
    assert await store.gateway_spend("nobody", since=0.0) == 0.0
    assert await store.gateway_calls() == list(reversed(calls))
    assert await store.gateway_calls("team-a", limit=2) == [calls[3], calls[1]]


async def test_a_store_serves_only_the_event_loop_that_opened_it(pg: PostgresStore) -> None:
    await pg.open()

    def elsewhere() -> None:  # another thread, with its own loop
        with pytest.raises(StoreError, match="opened on another event loop"):
            asyncio.run(pg.get_run("run-1"))
        with pytest.raises(StoreError, match="opened on another event loop"):
            asyncio.run(pg.close())

    await asyncio.to_thread(elsewhere)
    await pg.close()  # on its own loop, closing works
