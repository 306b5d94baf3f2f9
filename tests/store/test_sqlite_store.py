"""Store contract tests: every backend must pass them (the ``store`` fixture is per backend).

The last section covers what only the SQLite backend has: its file, its schema version and
the path/URL handling of ``open_store``.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from proctor.errors import ChainConflictError, StoreError, UsageError
from proctor.store import (
    ApprovalDecided,
    ApprovalRecord,
    ApprovalRequested,
    EventData,
    GatewayCallRecord,
    ModelCalled,
    Outcome,
    RecordedToolCall,
    RunFilter,
    RunFinished,
    RunJournal,
    RunRecord,
    RunStarted,
    RunStatus,
    SessionRecord,
    SpendHold,
    SQLiteStore,
    Store,
    Totals,
    Usage,
    open_store,
    row_to_event,
    verify_run,
)
from proctor.store._migrations import SCHEMA_VERSION
from proctor.store._rollup_sql import TABLES as ROLLUP_TABLES
from proctor.store._rollup_sql import TRIGGERS as ROLLUP_TRIGGERS
from proctor.store._text_index import TABLES as TEXT_INDEX_TABLES
from proctor.store._text_index import TRIGGERS as TEXT_INDEX_TRIGGERS
from support.eval_results import check_eval_results_round_trip, eval_result

MIGRATION_20 = ("runs_by_tenant_outcome", "runs_by_tenant_workflow", "runs_by_outcome")


def back_to_22(db: sqlite3.Connection) -> None:
    """The store as Proctor left it before migration 23: no search index."""
    for trigger in TEXT_INDEX_TRIGGERS:
        db.execute(f"DROP TRIGGER {trigger}")
    for table in TEXT_INDEX_TABLES:
        db.execute(f"DROP TABLE {table}")


def back_to_20(db: sqlite3.Connection) -> None:
    """The approvals' indexes as Proctor left them before migration 21."""
    back_to_22(db)
    db.execute("DROP INDEX approvals_by_request")
    for index, columns in (
        ("approvals_by_status", "status, requested_at"),
        ("approvals_by_decision", "decided_at) WHERE (decided_at IS NOT NULL"),
    ):
        db.execute(f"DROP INDEX {index}")
        db.execute(f"CREATE INDEX {index} ON approvals ({columns})")


def back_to_19(db: sqlite3.Connection) -> None:
    """The runs' and approvals' indexes as Proctor left them before migration 20."""
    back_to_20(db)
    for index in MIGRATION_20:
        db.execute(f"DROP INDEX {index}")
    for index, columns in (
        ("runs_by_start", "started_at DESC"),
        ("runs_by_status", "status, started_at DESC"),
        ("runs_by_workflow", "workflow, started_at DESC"),
        ("runs_by_tenant", "tenant, started_at DESC, run_id DESC"),
        ("runs_by_tenant_status", "tenant, status, started_at, run_id"),
    ):
        db.execute(f"DROP INDEX {index}")
        db.execute(f"CREATE INDEX {index} ON runs ({columns})")


def started(workflow: str = "invoices") -> RunStarted:
    return RunStarted(
        workflow=workflow,
        model="scripted",
        contract_name=f"{workflow}-contract",
        contract_version="1",
        contract_hash="c" * 64,
        input={"po_number": "PO-1001"},
    )


def model_turn(turn: int = 1) -> ModelCalled:
    return ModelCalled(
        model="scripted",
        turn=turn,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=10, output_tokens=2),
        cost_usd=0.0001,
        latency_ms=1.0,
        tool_call_count=1,
        tool_calls=[RecordedToolCall(id=f"c{turn}", name="erp.pay", arguments={"amount": 1})],
    )


def record(run_id: str, *, workflow: str = "invoices", started_at: float = 1000.0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow=workflow,
        model="scripted",
        contract_name=f"{workflow}-contract",
        contract_hash="c" * 64,
        trace_id="t" * 32,
        started_at=started_at,
        updated_at=started_at,
    )


async def start_run(
    store: Store, run_id: str, *, workflow: str = "invoices", started_at: float = 1000.0
) -> tuple[RunJournal, RunRecord]:
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    run = record(run_id, workflow=workflow, started_at=started_at)
    row, _ = journal.build(started(workflow), ts=started_at)
    run.last_seq, run.head_hash = journal.last_seq, journal.head_hash
    await store.create_run(run, row)
    return journal, run


def approval_for(run_id: str, approval_id: str = "ap-1", at: float = 1001.0) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=approval_id,
        run_id=run_id,
        call_id="c1",
        tool="erp.pay",
        args_digest="d" * 64,
        arguments={"amount": 12000, "vendor": "ACME"},
        rule="approvals.large_payment",
        reason="amount over 10000",
        requested_at=at,
    )


def approval_requested(approval: ApprovalRecord) -> ApprovalRequested:
    return ApprovalRequested(
        approval_id=approval.approval_id,
        call_id=approval.call_id,
        tool=approval.tool,
        args_digest=approval.args_digest,
        rule=approval.rule,
        reason=approval.reason,
        arguments=approval.arguments,
    )


# Creating and reading runs --------------------------------------------------------------


async def test_create_run_writes_the_run_and_its_first_event(store: Store) -> None:
    _, run = await start_run(store, "run-1")

    assert await store.get_run("run-1") == run
    rows = await store.events("run-1")
    assert [(row.seq, row.type, row.hash) for row in rows] == [(0, "run_started", run.head_hash)]
    assert row_to_event(rows[0]).data == started()
    assert await store.run_ids() == ["run-1"]


async def test_unknown_ids_read_as_none_or_empty(store: Store) -> None:
    assert await store.get_run("nope") is None
    assert await store.get_approval("nope") is None
    assert await store.events("nope") == []
    assert await store.run_ids() == []
    assert await store.list_runs(RunFilter()) == []


async def test_events_of_one_run_do_not_leak_into_another(store: Store) -> None:
    first, _ = await start_run(store, "run-a")
    second, _ = await start_run(store, "run-b")
    await first.append([model_turn(1), model_turn(2)])
    await second.append([model_turn(1)])

    assert [row.seq for row in await store.events("run-a")] == [0, 1, 2]
    assert [row.seq for row in await store.events("run-b")] == [0, 1]
    assert await store.run_ids() == ["run-a", "run-b"]


# Appending: atomic, and never forking a chain ---------------------------------------------


async def test_a_stale_writer_gets_a_conflict_and_writes_nothing(store: Store) -> None:
    journal, _ = await start_run(store, "run-1")
    await journal.append([model_turn(1)])
    before = await store.events("run-1")
    stale = RunJournal(
        store,
        run_id="run-1",
        trace_id="t" * 32,
        root_span_id="root",
        last_seq=0,
        head_hash=before[0].hash,
    )

    with pytest.raises(ChainConflictError, match="run-1 at seq 1"):
        await stale.append([model_turn(7), model_turn(8)])

    assert await store.events("run-1") == before


async def test_a_batch_failing_midway_writes_none_of_its_rows_or_side_rows(store: Store) -> None:
    journal, run = await start_run(store, "run-1")
    good, _ = journal.build(model_turn(1))
    gap, _ = journal.build(model_turn(2))
    gap.seq += 1  # leaves a hole at seq 2: this row cannot extend the chain
    approval = approval_for("run-1")
    waiting = dataclasses.replace(run, status="awaiting_approval", last_seq=3)

    with pytest.raises(ChainConflictError):
        await store.append([good, gap], run=waiting, approval=approval)

    assert [row.seq for row in await store.events("run-1")] == [0]
    assert await store.get_run("run-1") == run
    assert await store.get_approval("ap-1") is None
    assert (await verify_run(store, "run-1")).ok


async def test_a_row_not_linked_to_the_head_is_rejected(store: Store) -> None:
    journal, _ = await start_run(store, "run-1")
    row, _ = journal.build(model_turn(1))
    row.prev_hash = "f" * 64

    with pytest.raises(ChainConflictError, match="another writer"):
        await store.append([row])

    assert len(await store.events("run-1")) == 1


async def test_a_second_first_event_is_rejected(store: Store) -> None:
    await start_run(store, "run-1")

    with pytest.raises(ChainConflictError):
        await start_run(store, "run-1")


async def test_run_and_approval_rows_are_written_with_the_events(store: Store) -> None:
    journal, run = await start_run(store, "run-1")
    approval = approval_for("run-1")
    waiting = dataclasses.replace(run, status="awaiting_approval", updated_at=1001.0)

    await journal.append(
        [model_turn(1), approval_requested(approval)], run=waiting, approval=approval
    )

    stored = await store.get_run("run-1")
    assert stored is not None
    assert stored.status == "awaiting_approval"
    assert (stored.last_seq, stored.head_hash) == (2, journal.head_hash)
    assert await store.get_approval("ap-1") == approval
    assert (await verify_run(store, "run-1")).ok


# Approvals -------------------------------------------------------------------------------------


async def test_approvals_are_listed_by_status_oldest_first(store: Store) -> None:
    journal, _ = await start_run(store, "run-1")
    later = approval_for("run-1", "ap-2", at=1005.0)
    earlier = approval_for("run-1", "ap-1", at=1002.0)
    await journal.append([approval_requested(later)], approval=later)
    await journal.append([approval_requested(earlier)], approval=earlier)

    pending = await store.list_approvals()
    assert [a.approval_id for a in pending] == ["ap-1", "ap-2"]

    decided = dataclasses.replace(
        earlier, status="approved", decided_at=1010.0, decided_by="alice", decision_reason="ok"
    )
    decision = ApprovalDecided(approval_id="ap-1", call_id="c1", approved=True, decided_by="alice")
    await journal.append([decision], approval=decided)

    assert [a.approval_id for a in await store.list_approvals("pending")] == ["ap-2"]
    assert await store.list_approvals("approved") == [decided]
    assert await store.list_approvals("denied") == []
    assert [a.approval_id for a in await store.list_approvals(None)] == ["ap-1", "ap-2"]
    assert await store.get_approval("ap-1") == decided
    # Decided lately (what the notifier announces): a pending one was never decided.
    assert await store.list_approvals(None, decided_since=1010.0) == [decided]
    assert await store.list_approvals(None, decided_since=1010.5) == []
    assert await store.list_approvals("pending", decided_since=0.0) == []
    # By run (what a page of runs awaiting approval reads).
    assert await store.list_approvals(None, run_ids=["run-1"]) == await store.list_approvals(None)
    assert [a.approval_id for a in await store.list_approvals("pending", run_ids=["run-1"])] == [
        "ap-2"
    ]
    assert await store.list_approvals(None, run_ids=["run-9"]) == []
    assert await store.list_approvals(None, run_ids=[]) == []


# Listing runs -----------------------------------------------------------------------------


async def test_list_runs_filters_and_orders_newest_first(store: Store) -> None:
    plan: list[tuple[str, str, float, RunStatus, Outcome | None]] = [
        ("r1", "invoices", 1000.0, "finished", "resolved"),
        ("r2", "invoices", 1001.0, "finished", "escalated"),
        ("r3", "triage", 1002.0, "running", None),
        ("r4", "invoices", 1003.0, "awaiting_approval", None),
        ("r5", "triage", 1004.0, "finished", "resolved"),
    ]
    for run_id, workflow, at, status, outcome in plan:
        journal, run = await start_run(store, run_id, workflow=workflow, started_at=at)
        if status != "running":
            updated = dataclasses.replace(run, status=status, outcome=outcome)
            data: EventData = (
                RunFinished(outcome=outcome, reason="done", totals=Totals())
                if outcome is not None
                else model_turn()
            )
            await journal.append([data], run=updated)

    async def ids(query: RunFilter) -> list[str]:
        return [run.run_id for run in await store.list_runs(query)]

    assert await ids(RunFilter()) == ["r5", "r4", "r3", "r2", "r1"]
    assert await ids(RunFilter(workflow="invoices")) == ["r4", "r2", "r1"]
    assert await ids(RunFilter(status="finished")) == ["r5", "r2", "r1"]
    assert await ids(RunFilter(outcome="resolved")) == ["r5", "r1"]
    assert await ids(RunFilter(workflow="triage", outcome="resolved")) == ["r5"]
    assert await ids(RunFilter(statuses=("running", "awaiting_approval"))) == ["r4", "r3"]
    assert await ids(RunFilter(limit=2)) == ["r5", "r4"]
    assert await ids(RunFilter(workflow="invoices", limit=1)) == ["r4"]
    assert await ids(RunFilter(workflow="nothing")) == []


async def test_run_records_round_trip_every_field(store: Store) -> None:
    journal, run = await start_run(store, "run-1")
    finished = dataclasses.replace(
        run,
        status="finished",
        outcome="draft_only",
        updated_at=1010.5,
        finished_at=1010.5,
        tool_calls=3,
        model_calls=2,
        input_tokens=120,
        output_tokens=40,
        cost_usd=None,
        duration_s=9.25,
    )

    await journal.append(
        [RunFinished(outcome="draft_only", reason="draft", totals=Totals())], run=finished
    )

    assert await store.get_run("run-1") == finished
    assert finished.last_seq == 1


# The gateway's cache ----------------------------------------------------------------------


async def test_cache_returns_what_was_put_until_it_expires(store: Store) -> None:
    await store.cache_put("k", b"\x00value\xff", expires_at=1010.0)

    assert await store.cache_get("k", now=1000.0) == b"\x00value\xff"
    assert await store.cache_get("k", now=1009.999) == b"\x00value\xff"
    assert await store.cache_get("k", now=1010.0) is None
    assert await store.cache_get("other", now=1000.0) is None


async def test_cache_put_replaces_the_value_and_its_expiry(store: Store) -> None:
    await store.cache_put("k", b"old", expires_at=1010.0)
    await store.cache_put("k", b"new", expires_at=1020.0)

    assert await store.cache_get("k", now=1015.0) == b"new"

    await store.cache_put("k", b"newer", expires_at=1001.0)  # a shorter expiry wins too
    assert await store.cache_get("k", now=1015.0) is None


async def test_cache_put_many_writes_a_batch_in_one_go(store: Store) -> None:
    await store.cache_put("b", b"old", expires_at=1010.0)
    await store.cache_put_many([("a", b"1", 1010.0), ("b", b"2", 1020.0)])
    await store.cache_put_many([])

    assert await store.cache_get("a", now=1000.0) == b"1"
    assert await store.cache_get("b", now=1015.0) == b"2"


async def test_cache_purge_deletes_only_expired_entries(store: Store) -> None:
    await store.cache_put("gone-1", b"1", expires_at=1000.0)
    await store.cache_put("gone-2", b"2", expires_at=1004.0)
    await store.cache_put("kept", b"3", expires_at=1006.0)

    assert await store.cache_purge(now=1005.0) == 2
    assert await store.cache_purge(now=1005.0) == 0
    assert await store.cache_get("kept", now=1005.0) == b"3"
    # Purged entries are gone, not merely hidden: a clock going back does not revive them.
    assert await store.cache_get("gone-2", now=900.0) is None


async def test_cache_entries_do_not_touch_runs(store: Store) -> None:
    await start_run(store, "run-1")
    await store.cache_put("run-1", b"x", expires_at=2000.0)

    assert await store.run_ids() == ["run-1"]
    assert [row.seq for row in await store.events("run-1")] == [0]


# Eval results ------------------------------------------------------------------------------


async def test_eval_results_round_trip(store: Store) -> None:
    await check_eval_results_round_trip(store)


# SQLite only: the file, its schema version, open_store ------------------------------------


def _set_user_version(path: Path, version: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {version}")


async def test_a_newer_schema_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _set_user_version(path, SCHEMA_VERSION + 1)

    with pytest.raises(StoreError, match="Upgrade Proctor") as raised:
        SQLiteStore(path)

    assert f"schema version {SCHEMA_VERSION + 1}" in str(raised.value)


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(StoreError, match="cannot open the store"):
        SQLiteStore(path)


async def test_an_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")

    with pytest.raises(StoreError, match="cannot open the store"):
        SQLiteStore(tmp_path / "a-file" / "proctor.db")


async def test_a_new_store_is_at_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await SQLiteStore(path).close()

    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_version_1_store_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    first = SQLiteStore(path)
    try:
        await start_run(first, "run-1")
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # back to how Proctor 0.1 left it
        back_to_19(db)  # migration 20
        for trigger in ROLLUP_TRIGGERS:  # migration 19
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ROLLUP_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX events_escalated")  # migration 18
        db.execute("DROP INDEX runs_report")
        db.execute("DROP INDEX approvals_by_run")
        for index in ("session", "cost", "duration", "tenant_status"):  # migration 16
            db.execute(f"DROP INDEX runs_by_{index}")
        for column in ("session", "input_text", "answer_text", "tools_used"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("DROP TABLE notification_deliveries")  # migration 15
        db.execute("DROP INDEX approvals_by_decision")
        db.execute("DROP TABLE gateway_holds")  # migration 13
        db.execute("DROP TABLE gateway_spend")
        for table in ("cache", "gateway_calls", "contracts", "purges"):  # migrations 2 and on
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX runs_by_contract")
        for column in ("approver", "expires_at"):  # migration 5
            db.execute(f"ALTER TABLE approvals DROP COLUMN {column}")
        db.execute("DROP TABLE eval_results")  # migration 6 (its index goes with it)
        db.execute("DROP TABLE run_queue")  # migration 8 (its index goes with it)
        db.execute("DROP TABLE run_keys")  # migration 12
        db.execute("ALTER TABLE events DROP COLUMN sealed")
        db.execute("DROP TABLE checkpoints")  # migration 11
        db.execute("DROP TABLE checkpoint_heads")
        for column in ("mac", "signature"):
            db.execute(f"ALTER TABLE events DROP COLUMN {column}")
        db.execute("DROP TABLE sessions")  # migration 10 (its index goes with it)
        db.execute("DROP TABLE api_keys")  # migration 7
        db.execute("DROP INDEX runs_by_tenant")
        for column in ("tenant", "started_by"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 1")

    store = SQLiteStore(path)
    try:
        assert await store.run_ids() == ["run-1"]
        migrated = await store.get_run("run-1")
        assert migrated is not None
        assert (migrated.tenant, migrated.started_by) == ("default", "")
        await store.cache_put("k", b"v", expires_at=2000.0)
        assert await store.cache_get("k", now=1000.0) == b"v"
        await store.save_eval_result(eval_result("evr_0001"))
        assert [r.result_id for r in await store.eval_results("invoice")] == ["evr_0001"]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_sessions_from_before_single_sign_on_are_migrated_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    first = SQLiteStore(path)
    try:
        await first.save_session(
            SessionRecord(session_id="k" * 64, key_id="key_a", created_at=1.0, expires_at=2e9)
        )
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # as Proctor left it before single sign-on
        back_to_19(db)  # migration 20
        for trigger in ROLLUP_TRIGGERS:  # migration 19
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ROLLUP_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX events_escalated")  # migration 18
        db.execute("DROP INDEX runs_report")
        db.execute("DROP INDEX approvals_by_run")
        for column in ("issuer", "subject", "name", "role", "tenant"):
            db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 16")
    store = SQLiteStore(path)
    try:
        kept = await store.get_session("k" * 64)
        assert kept == SessionRecord(
            session_id="k" * 64, key_id="key_a", created_at=1.0, expires_at=2e9
        )
        assert (kept.issuer, kept.subject, kept.role, kept.tenant) == ("", "", "", "")
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_cache_calls_on_a_closed_store_are_store_errors(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    await store.close()

    with pytest.raises(StoreError, match="the cache in the store"):
        await store.cache_get("k", now=0.0)
    with pytest.raises(StoreError, match="the cache in the store"):
        await store.cache_put("k", b"v", expires_at=1.0)


async def test_reopening_keeps_runs_events_and_approvals(tmp_path: Path) -> None:
    path = tmp_path / "keep.db"
    first = SQLiteStore(path)
    try:
        journal, run = await start_run(first, "run-1")
        approval = approval_for("run-1")
        await journal.append([approval_requested(approval)], run=run, approval=approval)
        rows = await first.events("run-1")
    finally:
        await first.close()

    second = SQLiteStore(path)
    try:
        assert await second.events("run-1") == rows
        assert await second.get_run("run-1") == run
        assert await second.get_approval("ap-1") == approval
        # A writer resumed from the run record continues the same chain.
        resumed = RunJournal(
            second,
            run_id="run-1",
            trace_id=run.trace_id,
            root_span_id="root",
            last_seq=run.last_seq,
            head_hash=run.head_hash,
        )
        await resumed.append([model_turn(2)])
        assert (await verify_run(second, "run-1")).ok
    finally:
        await second.close()


async def test_open_store_defaults_to_the_proctor_home(proctor_home: Path) -> None:
    store = open_store()
    try:
        assert isinstance(store, SQLiteStore)
        assert store.path == proctor_home / "proctor.db"
        assert store.path.exists()
    finally:
        await store.close()


async def test_open_store_accepts_paths_and_sqlite_urls(tmp_path: Path) -> None:
    locations: list[tuple[str | Path, Path]] = [
        (tmp_path / "by-path.db", tmp_path / "by-path.db"),
        (f"sqlite:///{tmp_path / 'by-url.db'}", tmp_path / "by-url.db"),
    ]
    for location, expected in locations:
        store = open_store(location)
        try:
            assert isinstance(store, SQLiteStore)
            assert store.path == expected
        finally:
            await store.close()


def test_open_store_rejects_unknown_url_schemes() -> None:
    with pytest.raises(UsageError, match="'mysql'"):
        open_store("mysql://localhost/proctor")


@pytest.mark.parametrize(
    "location", ["postgresql//host/db", "sqlite:/x.db", "sqlite://x.db", "sqlite:///", ""]
)
def test_open_store_refuses_a_mistyped_url(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="Fix: give a file path"):
        open_store(location)
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_url_names_an_absolute_path(tmp_path: Path) -> None:
    from proctor.store._schema import resolve_location

    path = str(tmp_path / "x.db")
    assert resolve_location("sqlite:///tmp/x.db") == ("sqlite", "/tmp/x.db")
    assert resolve_location(f"sqlite://{path}") == ("sqlite", path)  # three slashes
    assert resolve_location(f"sqlite:///{path}") == ("sqlite", path)  # SQLAlchemy's four
    for plain in ("x.db", "sqlite/x.db", "sqlite.db", "postgres_runs.db", "./data/x.db"):
        assert resolve_location(plain) == ("sqlite", plain)


async def test_open_store_without_create_opens_only_a_store_that_exists(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "x.db"
    with pytest.raises(StoreError, match=r"^no store at .*x\.db \(the file does not exist"):
        open_store(missing, create=False)
    with pytest.raises(StoreError, match="it is a folder"):
        open_store(tmp_path, create=False)
    assert not missing.parent.exists()
    made = tmp_path / "made.db"
    await open_store(made).close()
    store = open_store(f"sqlite://{made}", create=False)
    try:
        assert isinstance(store, SQLiteStore)
        assert store.path == made
    finally:
        await store.close()


def test_processes_opening_a_new_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    path = tmp_path / "fresh.db"
    # Every process waits for the same instant, so they open the new file together.
    code = (
        "import sys, time\n"
        "from proctor.store import SQLiteStore\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "SQLiteStore(sys.argv[1])\n"
    )
    start = str(time.time() + 2.0)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), start]) for _ in range(6)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6


async def test_the_spend_of_a_version_12_ledger_counts_against_budgets(tmp_path: Path) -> None:
    path = tmp_path / "v12.db"
    day = 86_400.0 * 1_000
    first = SQLiteStore(path)
    try:
        await first.record_gateway_calls(
            [
                GatewayCallRecord(ts=day - 1, key_name="team", route="r", cost_usd=0.5),
                GatewayCallRecord(ts=day + 1, key_name="team", route="r", cost_usd=0.25),
                GatewayCallRecord(ts=day + 2, key_name="team", route="r", cost_usd=0.125),
            ]
        )
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # as Proctor left it before budget holds
        back_to_19(db)  # migration 20
        for trigger in ROLLUP_TRIGGERS:  # migration 19
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ROLLUP_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX events_escalated")  # migration 18
        db.execute("DROP INDEX runs_report")
        db.execute("DROP INDEX approvals_by_run")
        for column in ("issuer", "subject", "name", "role", "tenant"):  # migration 17
            db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        for index in ("session", "cost", "duration", "tenant_status"):  # migration 16
            db.execute(f"DROP INDEX runs_by_{index}")
        for column in ("session", "input_text", "answer_text", "tools_used"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("ALTER TABLE run_queue DROP COLUMN session")
        db.execute("DROP TABLE notification_deliveries")  # migration 15
        db.execute("DROP INDEX approvals_by_decision")
        for column in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
            db.execute(f"ALTER TABLE gateway_calls DROP COLUMN {column}")  # migration 14
        db.execute("DROP TABLE gateway_holds")
        db.execute("DROP TABLE gateway_spend")
        db.execute("PRAGMA user_version = 12")
    store = SQLiteStore(path)
    try:
        hold = SpendHold(hold_id="h", key_name="team", amount_usd=1.0, expires_at=day + 60)
        held, committed = await store.hold_gateway_spend(
            hold, needed_usd=0.0, since=day, limit_usd=1.0, now=day + 3
        )
    finally:
        await store.close()
    assert committed == 0.375  # today's two calls, not yesterday's
    assert held == 0.625


async def test_a_store_analysed_before_migration_16_still_lists_newest_first_by_index(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v15.db"
    first = SQLiteStore(path)
    try:
        for n in range(40):
            await start_run(first, f"run-{n:02d}", started_at=1000.0 + n)
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # as a version 15 store someone analysed
        back_to_19(db)  # migration 20
        for trigger in ROLLUP_TRIGGERS:  # migration 19
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ROLLUP_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX events_escalated")  # migration 18
        db.execute("DROP INDEX runs_report")
        db.execute("DROP INDEX approvals_by_run")
        for column in ("issuer", "subject", "name", "role", "tenant"):  # migration 17
            db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        for index in ("session", "cost", "duration", "tenant_status"):
            db.execute(f"DROP INDEX runs_by_{index}")
        for column in ("session", "input_text", "answer_text", "tools_used"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("ALTER TABLE run_queue DROP COLUMN session")
        db.execute("ANALYZE")
        # ...when it was large: a million runs, two tenants.
        db.execute(
            "UPDATE sqlite_stat1 SET stat = '1000000 500000 1 1' WHERE idx = 'runs_by_tenant'"
        )
        db.execute("PRAGMA user_version = 15")
        db.commit()
    store = SQLiteStore(path)
    try:
        page = await store.list_runs(RunFilter(tenant="default", limit=3))
        assert [run.run_id for run in page] == ["run-39", "run-38", "run-37"]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM runs r WHERE r.tenant = ? "
            "ORDER BY r.started_at DESC, r.run_id DESC LIMIT 51",
            ("default",),
        ).fetchall()
        measured = {row[0] for row in db.execute("SELECT idx FROM sqlite_stat1")}
    assert [row[3] for row in plan] == ["SEARCH r USING INDEX runs_by_tenant (tenant=?)"]
    # The new indexes were measured (not taken for better).
    assert {"runs_by_cost", *MIGRATION_20} <= measured


async def test_a_version_17_store_gains_the_index_of_escalations(tmp_path: Path) -> None:
    path = tmp_path / "v17.db"
    await SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as db:  # as Proctor left it before migration 18
        back_to_19(db)  # migration 20
        for trigger in ROLLUP_TRIGGERS:  # migration 19
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ROLLUP_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("DROP INDEX events_escalated")
        db.execute("DROP INDEX runs_report")
        db.execute("DROP INDEX approvals_by_run")
        db.execute("PRAGMA user_version = 17")
        db.commit()
    store = SQLiteStore(path)
    try:
        assert await store.escalation_triggers(RunFilter(tenant="default")) == []
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        # The outcome report's count reads the escalations by the index, then their runs,
        # never every event of the window's runs.
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM events e CROSS JOIN runs r "
            "WHERE r.tenant = ? AND r.started_at >= ? AND e.type = 'escalated' "
            "AND r.run_id = e.run_id",
            ("default", 0.0),
        ).fetchall()
        sums = db.execute(
            "EXPLAIN QUERY PLAN SELECT r.model, SUM(r.cost_usd), MAX(r.duration_s) FROM runs r "
            "WHERE r.tenant = ? AND r.started_at >= ? AND r.status = 'finished' GROUP BY 1",
            ("default", 0.0),
        ).fetchall()
    assert "COVERING INDEX runs_report" in sums[0][3], sums
    steps = [row[3] for row in plan]
    assert steps[0].startswith("SCAN e USING"), steps
    assert "events_escalated" in steps[0], steps
    assert steps[1].startswith("SEARCH r USING INDEX sqlite_autoindex_runs"), steps


async def test_a_store_from_before_the_daily_sums_is_summed_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v18.db"
    first = SQLiteStore(path)
    try:
        await start_run(first, "run-1")
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # as Proctor left it before migration 19
        back_to_19(db)  # migration 20
        for trigger in ROLLUP_TRIGGERS:
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ROLLUP_TABLES:
            db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version = 18")
    store = SQLiteStore(path)
    try:
        await store.list_runs(RunFilter())  # migrates
        [run] = await store.list_runs(RunFilter())
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute(
            "SELECT tenant, day, workflow, tool_calls, runs FROM run_days"
        ).fetchall() == [
            (run.tenant, int(run.started_at // 86_400), run.workflow, run.tool_calls, 1)
        ]


async def test_the_approvals_of_a_page_of_runs_are_read_by_run_first(tmp_path: Path) -> None:
    # A store grown from empty has no statistics: SQLite must still read a page's approvals
    # by run (approvals_by_run), then their runs, not walk the tenant's runs.
    store = SQLiteStore(tmp_path / "page.db")
    try:
        journal, _ = await start_run(store, "run-1")
        pending = approval_for("run-1")
        await journal.append([approval_requested(pending)], approval=pending)
        page = ["run-1", *(f"run-{n}" for n in range(2, 52))]  # a page of 51 runs
        said: list[str] = []
        store._db.set_trace_callback(said.append)
        found = await store.list_approvals("pending", tenant="default", run_ids=page)
        store._db.set_trace_callback(None)
        assert [a.approval_id for a in found] == ["ap-1"]
        [query] = [sql for sql in said if sql.startswith("SELECT")]
        plan = [row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}")]
    finally:
        await store.close()
    assert plan[0].startswith("SEARCH a USING INDEX approvals_by_run"), plan
    assert plan[1].startswith("SEARCH r USING INDEX sqlite_autoindex_runs"), plan


async def _plans(store: SQLiteStore, query: RunFilter) -> list[str]:
    """The first step of the plan of the queries of a page of ``query``, then its totals."""
    said: list[str] = []
    store._db.set_trace_callback(said.append)
    try:
        await store.list_runs(query)
        await store.run_totals(query, cap=10_000)
    finally:
        store._db.set_trace_callback(None)
    selects = [sql for sql in said if sql.startswith("SELECT")]
    plans = [store._db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall() for sql in selects]
    return [next(row[3] for row in plan if "USING" in row[3]) for plan in plans]


@pytest.mark.parametrize("analysed", [False, True])
async def test_a_version_19_store_filters_by_outcome_and_workflow_through_indexes(
    tmp_path: Path, analysed: bool
) -> None:
    path = tmp_path / "v19.db"
    first = SQLiteStore(path)
    try:
        for n in range(40):
            await start_run(first, f"run-{n:02d}", started_at=1000.0 + n)
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # as Proctor left it before migration 20
        back_to_19(db)
        if analysed:
            db.execute("ANALYZE")
        db.execute("PRAGMA user_version = 19")
        db.commit()
    store = SQLiteStore(path)
    try:
        # A page and its totals (the newest 10,000) read the filter's own index in start
        # order, not every run of the tenant until enough match, and the totals that index
        # alone; a store grown from empty (no statistics) and one analysed (the migration
        # measures the new indexes) alike.
        outcome = await _plans(store, RunFilter(tenant="default", outcome="failed", limit=51))
        workflow = await _plans(store, RunFilter(tenant="default", workflow="refunds", limit=51))
        # `proctor runs` reads every tenant's.
        every = await _plans(store, RunFilter(outcome="failed", limit=51))
        cli = await _plans(store, RunFilter(limit=51))
        cli_status = await _plans(store, RunFilter(status="running", limit=51))
        plain = await _plans(store, RunFilter(tenant="default", limit=51))
        status = await _plans(store, RunFilter(tenant="default", status="running", limit=51))
        session = await _plans(store, RunFilter(tenant="default", session="chat-1", limit=51))
        cli_session = await _plans(store, RunFilter(session="chat-1", sort="started", limit=51))
    finally:
        await store.close()
    assert all("INDEX runs_by_tenant_outcome (tenant=? AND outcome=?)" in p for p in outcome)
    assert all("INDEX runs_by_tenant_workflow (tenant=? AND workflow=?)" in p for p in workflow)
    assert all("INDEX runs_by_outcome (outcome=?)" in p for p in every)
    assert all("INDEX runs_by_tenant (tenant=?)" in p for p in plain)
    assert all("INDEX runs_by_tenant_status (tenant=? AND status=?)" in p for p in status)
    # A session's runs still by their own index, though the tenant's is made again (made
    # last, it would win a tie without statistics, had it not grown wider).
    assert all("INDEX runs_by_session (session=?)" in p for p in [*session, *cli_session])
    assert all("INDEX runs_by_start" in p for p in cli)
    assert all("INDEX runs_by_status (status=?)" in p for p in cli_status)
    for totals in (outcome, workflow, every, plain, status, cli, cli_status):
        assert "COVERING INDEX" in totals[-1], totals
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_version_22_store_queues_its_runs_for_the_search_index(tmp_path: Path) -> None:
    path = tmp_path / "v22.db"
    first = SQLiteStore(path, search_index=False)
    try:
        for n in range(5):
            await start_run(first, f"run-{n:02d}", started_at=1000.0 + n)
    finally:
        await first.close()
    with closing(sqlite3.connect(path)) as db:  # as Proctor left it before migration 23
        back_to_22(db)
        db.execute("PRAGMA user_version = 22")
        db.commit()
    store = SQLiteStore(path, search_index=False)
    try:
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT COUNT(*) FROM runs_text_queue").fetchone()[0] == 5
        assert await store.catch_up_search_index() == 5
        found = await store.list_runs(RunFilter(search="run-03"))
        assert [run.run_id for run in found] == ["run-03"]
    finally:
        await store.close()
