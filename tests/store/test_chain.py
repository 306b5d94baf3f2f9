"""The hash chain: ``RunJournal`` writes it, ``verify_run`` proves it was not altered."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from proctor.errors import ChainConflictError
from proctor.store import (
    GENESIS_HASH,
    EventData,
    ModelCalled,
    PolicyDecided,
    RecordedToolCall,
    RunFinished,
    RunJournal,
    RunRecord,
    RunStarted,
    SQLiteStore,
    Store,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
    chain_hash,
    digest,
    row_to_event,
    verify_rows,
    verify_run,
)
from support.json_strategies import json_objects, json_values

TRACE = "a" * 32


def journal_for(store: Store, run_id: str = "run-1") -> RunJournal:
    return RunJournal(store, run_id=run_id, trace_id=TRACE, root_span_id="root-span")


def run_record(run_id: str = "run-1") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow="invoices",
        model="scripted",
        contract_name="invoice-reconciliation",
        contract_hash="c" * 64,
        trace_id=TRACE,
        started_at=1000.0,
    )


def story() -> list[EventData]:
    """Six events of a small run: start, one model turn, one tool call."""
    arguments = {"po": "PO-1001", "amount": 120.5}
    return [
        RunStarted(
            workflow="invoices",
            model="scripted",
            contract_name="invoice-reconciliation",
            contract_version="1",
            contract_hash="c" * 64,
            input={"po_number": "PO-1001"},
        ),
        ModelCalled(
            model="scripted",
            turn=1,
            messages_digest="m" * 64,
            usage=Usage(input_tokens=100, output_tokens=20),
            cost_usd=0.001,
            latency_ms=5.0,
            tool_call_count=1,
            tool_calls=[RecordedToolCall(id="c1", name="erp.fetch_po", arguments=arguments)],
        ),
        ToolProposed(
            call_id="c1",
            step=1,
            tool="erp.fetch_po",
            args_digest=digest(arguments),
            arguments=arguments,
        ),
        PolicyDecided(call_id="c1", tool="erp.fetch_po", decision="deny", rule="r", reason="no"),
        ToolStarted(call_id="c1", tool="erp.fetch_po", idempotency_key="run-1:1"),
        ToolFinished(call_id="c1", tool="erp.fetch_po", ok=True, latency_ms=2.0, result={"n": 1}),
    ]


# Building the chain ----------------------------------------------------------------------


async def test_sequence_starts_at_zero_and_links_each_event_to_the_previous(
    store: Store,
) -> None:
    journal = journal_for(store)
    events = await journal.append(story(), run=run_record())

    assert [event.seq for event in events] == list(range(6))
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert len({event.hash for event in events}) == 6
    assert (journal.last_seq, journal.head_hash) == (5, events[-1].hash)


async def test_span_ids_hang_under_the_root_span(store: Store) -> None:
    journal = journal_for(store)
    first, second = await journal.append(story()[:2], span_id="turn-1")

    assert (first.span_id, first.parent_span_id) == ("root-span", None)
    assert (second.span_id, second.parent_span_id) == ("turn-1", "root-span")
    assert {first.trace_id, second.trace_id} == {TRACE}


async def test_hash_is_a_function_of_its_inputs(store: Store) -> None:
    def build(data: EventData, ts: float, prev: str = GENESIS_HASH) -> str:
        journal = RunJournal(
            store, run_id="run-1", trace_id=TRACE, root_span_id="root-span", head_hash=prev
        )
        row, event = journal.build(data, ts=ts)
        assert row.hash == event.hash == chain_hash(prev, row.hashed_metadata())
        return row.hash

    started = story()[0]
    assert build(started, 1000.0) == build(started, 1000.0)
    assert build(started, 1000.0) != build(started, 1000.5)
    assert build(started, 1000.0) != build(started, 1000.0, prev="1" * 64)
    other_input = started.model_copy(update={"input": {"po_number": "PO-1002"}})
    assert build(started, 1000.0) != build(other_input, 1000.0)


async def test_stored_rows_decode_to_the_events_that_were_appended(store: Store) -> None:
    events = await journal_for(store).append(story(), run=run_record())

    rows = await store.events("run-1")

    assert [row_to_event(row) for row in rows] == events
    assert [row.hash for row in rows] == [event.hash for event in events]


async def test_a_failed_append_leaves_the_journal_head_unchanged(store: Store) -> None:
    journal = journal_for(store)
    await journal.append(story()[:2])
    stale = journal_for(store)  # believes the run is empty
    head = (stale.last_seq, stale.head_hash)

    with pytest.raises(ChainConflictError, match="another writer"):
        await stale.append(story()[:1])

    assert (stale.last_seq, stale.head_hash) == head
    extended = await journal.append(story()[2:3])
    assert extended[0].seq == 2


# Verifying ---------------------------------------------------------------------------------


async def test_an_untouched_run_verifies(store: Store) -> None:
    journal = journal_for(store)
    await journal.append(story(), run=run_record())

    report = await verify_run(store, "run-1")

    assert report.ok, report.problem
    assert (report.events, report.head_hash, report.bad_seq) == (6, journal.head_hash, None)


async def test_purged_content_still_verifies(store: Store) -> None:
    await journal_for(store).append(story(), run=run_record())
    rows = await store.events("run-1")
    for row in rows:
        row.content = None

    report = verify_rows("run-1", rows, await store.get_run("run-1"))

    assert report.ok, report.problem
    assert all(row_to_event(row).purged for row in rows)


async def test_a_run_record_whose_head_disagrees_is_reported(store: Store) -> None:
    await journal_for(store).append(story(), run=run_record())
    rows = await store.events("run-1")
    run = await store.get_run("run-1")
    assert run is not None
    run.head_hash = "f" * 64

    report = verify_rows("run-1", rows, run)

    assert (report.ok, report.bad_seq) == (False, 5)
    assert "head hash" in (report.problem or "")


_run_numbers = itertools.count()


# No deadline: the first example on PostgreSQL also creates and migrates its schema, which
# takes longer than hypothesis's 200 ms on a loaded host (the test asserts no timing).
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(arguments=json_objects, result=json_values)
async def test_any_json_payload_survives_the_store_and_verifies(
    store: Store, arguments: dict[str, Any], result: Any
) -> None:
    run_id = f"prop-{next(_run_numbers)}"
    data: list[EventData] = [
        ToolProposed(
            call_id="c1", step=1, tool="t.x", args_digest=digest(arguments), arguments=arguments
        ),
        ToolFinished(call_id="c1", tool="t.x", ok=True, latency_ms=1.0, result=result),
    ]
    events = await journal_for(store, run_id).append(data, run=run_record(run_id))

    rows = await store.events(run_id)

    report = verify_rows(run_id, rows, await store.get_run(run_id))
    assert report.ok, report.problem
    assert [row_to_event(row) for row in rows] == events


# Tampering with the SQLite file ------------------------------------------------------------
# These tests edit the database behind the store's back, the way an attacker with file
# access would, and check that verify_run names the first broken event.


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    backend = SQLiteStore(tmp_path / "tamper.db")
    try:
        await journal_for(backend).append(story(), run=run_record())
        yield backend
    finally:
        await backend.close()


@contextmanager
def raw_db(store: SQLiteStore) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(store.path, isolation_level=None)) as db:
        yield db


async def test_tamper_fixture_starts_valid(sqlite_store: SQLiteStore) -> None:
    assert (await verify_run(sqlite_store, "run-1")).ok


async def test_edited_content_is_detected(sqlite_store: SQLiteStore) -> None:
    with raw_db(sqlite_store) as db:
        (content,) = db.execute("SELECT content FROM events WHERE seq = 2").fetchone()
        edited = orjson.loads(content)
        edited["arguments"]["amount"] = 99999
        db.execute("UPDATE events SET content = ? WHERE seq = 2", (orjson.dumps(edited),))

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 2)
    assert "edited" in (report.problem or "")
    assert "content" in (report.problem or "")


async def test_edited_content_with_a_recomputed_digest_is_detected(
    sqlite_store: SQLiteStore,
) -> None:
    with raw_db(sqlite_store) as db:
        (content,) = db.execute("SELECT content FROM events WHERE seq = 5").fetchone()
        edited = {**orjson.loads(content), "result": {"n": 2}}
        db.execute(
            "UPDATE events SET content = ?, content_digest = ? WHERE seq = 5",
            (orjson.dumps(edited), digest(edited)),
        )

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 5)
    assert "edited" in (report.problem or "")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (
            "meta",
            orjson.dumps(
                {
                    "type": "policy_decided",
                    "call_id": "c1",
                    "tool": "erp.fetch_po",
                    "decision": "allow",
                    "rule": "r",
                    "reason": "no",
                }
            ),
        ),
        ("ts", 1.0),
        ("span_id", "forged-span"),
    ],
)
async def test_edited_metadata_is_detected(
    sqlite_store: SQLiteStore, column: str, value: object
) -> None:
    with raw_db(sqlite_store) as db:
        db.execute(f"UPDATE events SET {column} = ? WHERE seq = 3", (value,))

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 3)
    assert "edited" in (report.problem or "")
    assert "hash" in (report.problem or "")


async def test_a_deleted_middle_event_is_detected(sqlite_store: SQLiteStore) -> None:
    with raw_db(sqlite_store) as db:
        db.execute("DELETE FROM events WHERE seq = 2")

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 2)
    assert "missing" in (report.problem or "")


async def test_a_deleted_and_renumbered_event_is_detected(sqlite_store: SQLiteStore) -> None:
    with raw_db(sqlite_store) as db:
        db.execute("DELETE FROM events WHERE seq = 2")
        db.execute("UPDATE events SET seq = -seq WHERE seq > 2")
        db.execute("UPDATE events SET seq = -seq - 1 WHERE seq < 0")

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 2)
    assert "deleted" in (report.problem or "")


async def test_a_deleted_tail_event_is_detected(sqlite_store: SQLiteStore) -> None:
    with raw_db(sqlite_store) as db:
        db.execute("DELETE FROM events WHERE seq = 5")

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 5)
    assert "deleted from the end" in (report.problem or "")


async def test_an_inserted_event_is_detected(sqlite_store: SQLiteStore) -> None:
    rows = await sqlite_store.events("run-1")
    # A forged event, correctly chained to event 2, slipped in as the new event 3.
    forger = RunJournal(
        sqlite_store,
        run_id="run-1",
        trace_id=TRACE,
        root_span_id="root-span",
        last_seq=2,
        head_hash=rows[2].hash,
    )
    forged, _ = forger.build(
        PolicyDecided(call_id="c1", tool="erp.fetch_po", decision="allow", rule="r", reason="ok"),
        ts=rows[2].ts,
    )
    with raw_db(sqlite_store) as db:
        db.execute("DROP TRIGGER IF EXISTS events_extend_chain")
        db.execute("UPDATE events SET seq = -seq - 1 WHERE seq >= 3")
        db.execute("UPDATE events SET seq = -seq WHERE seq < 0")
        db.execute(
            "INSERT INTO events (run_id, seq, type, ts, trace_id, span_id, parent_span_id, meta,"
            " content, content_digest, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                forged.run_id,
                forged.seq,
                forged.type,
                forged.ts,
                forged.trace_id,
                forged.span_id,
                forged.parent_span_id,
                orjson.dumps(forged.meta).decode(),
                orjson.dumps(forged.content).decode(),
                forged.content_digest,
                forged.prev_hash,
                forged.hash,
            ),
        )
        assert db.execute("SELECT count(*) FROM events").fetchone() == (7,)

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 4)
    assert "inserted" in (report.problem or "")


async def test_reordered_events_are_detected(sqlite_store: SQLiteStore) -> None:
    with raw_db(sqlite_store) as db:
        db.execute("UPDATE events SET seq = -1 WHERE seq = 2")
        db.execute("UPDATE events SET seq = 2 WHERE seq = 3")
        db.execute("UPDATE events SET seq = 3 WHERE seq = -1")

    report = await verify_run(sqlite_store, "run-1")

    assert (report.ok, report.bad_seq) == (False, 2)
    assert "reordered" in (report.problem or "")


async def test_a_purge_done_in_the_database_still_verifies(sqlite_store: SQLiteStore) -> None:
    with raw_db(sqlite_store) as db:
        db.execute("UPDATE events SET content = NULL")

    report = await verify_run(sqlite_store, "run-1")

    assert report.ok, report.problem
    events = [row_to_event(row) for row in await sqlite_store.events("run-1")]
    assert all(event.purged for event in events)
    assert isinstance(events[-1].data, ToolFinished)
    assert events[-1].data.result is None


async def test_finished_runs_verify_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    first = SQLiteStore(path)
    try:
        journal = journal_for(first)
        await journal.append(story(), run=run_record())
        finished = RunFinished(outcome="resolved", reason="done", totals=Totals())
        ended = run_record()
        ended.status, ended.outcome = "finished", "resolved"
        await journal.append([finished], run=ended)
    finally:
        await first.close()

    second = SQLiteStore(path)
    try:
        report = await verify_run(second, "run-1")
    finally:
        await second.close()

    assert report.ok, report.problem
    assert (report.events, report.head_hash) == (7, journal.head_hash)


# The runs row is an index the code reads (who started a run, under which contract, how
# it ended): an edit there that the log does not back is reported too.


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("started_by", "mallory", "started_by"),
        ("workflow", "payroll", "workflow"),
        ("contract_hash", "d" * 64, "contract_hash"),
        ("status", "finished", "finished"),
    ],
)
async def test_an_edited_run_record_is_detected(
    sqlite_store: SQLiteStore, column: str, value: str, named: str
) -> None:
    with raw_db(sqlite_store) as db:  # the fixture's row names no starter: the log's one
        (meta,) = db.execute("SELECT meta FROM events WHERE seq = 0").fetchone()
        starter = orjson.loads(meta)["started_by"]
        db.execute("UPDATE runs SET started_by = ? WHERE run_id = 'run-1'", (starter,))
    assert (await verify_run(sqlite_store, "run-1")).ok

    with raw_db(sqlite_store) as db:
        db.execute(f"UPDATE runs SET {column} = ? WHERE run_id = 'run-1'", (value,))

    report = await verify_run(sqlite_store, "run-1")
    assert not report.ok
    assert "runs table was edited" in (report.problem or "")
    assert named in (report.problem or "")


async def test_an_edited_outcome_is_detected(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "outcome.db")
    try:
        journal = journal_for(store)
        ended = run_record()
        ended.status, ended.outcome = "finished", "escalated"
        finished = RunFinished(outcome="escalated", reason="handed off", totals=Totals())
        await journal.append([*story(), finished], run=ended)
        assert (await verify_run(store, "run-1")).ok
        with raw_db(store) as db:
            db.execute("UPDATE runs SET outcome = 'resolved' WHERE run_id = 'run-1'")
        report = await verify_run(store, "run-1")
    finally:
        await store.close()
    assert (report.ok, report.bad_seq) == (False, 6)
    assert "'escalated'" in (report.problem or "")
