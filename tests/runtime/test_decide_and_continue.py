"""``decide_and_continue``: the one use case behind ``proctor approve``/``deny`` and the API."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.errors import AccessDenied, RunStateError
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import (
    ApprovalExpiredError,
    ManualClock,
    Runner,
    RunResult,
    Workflow,
    decide_and_continue,
)
from proctor.store import ApprovalRecord, QueueItem, SQLiteStore
from proctor.tools import Registry, tool

TICKET = {"name": "ticket", "regex": r"TCK-\d+"}


@tool("billing.refund", effect="write", idempotent=True)
def refund(amount: float) -> dict[str, Any]:
    """Refund."""
    return {"refunded": amount}


def runner(store: SQLiteStore, *, patterns: list[dict[str, str]], clock: ManualClock) -> Runner:
    contract = Contract.model_validate(
        {
            "workflow": "refunds",
            "approvals": [{"tool": "billing.refund", "expires_after_seconds": 60}],
            "redaction": {"patterns": patterns},
        }
    )
    turns = [Turn(calls=[("billing.refund", {"amount": 5})]), Turn(text="done")]
    workflow = Workflow(
        name="refunds",
        registry=Registry([refund]),
        contract=contract,
        instructions="Refund.",
        default_model="scripted:t",
        scripts={"t": lambda: ScriptedModel(scenario="t", script=turns)},
    )
    return Runner(store, workflow, clock=clock)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


class Continued:
    """A ``drive`` that awaits the run, and notes what happened in which order."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.results: list[RunResult] = []

    def decided(self, approval: ApprovalRecord) -> None:
        self.seen.append(f"decided {approval.status}")

    async def drive(self, resumed: Awaitable[RunResult]) -> None:
        self.results.append(await resumed)
        self.seen.append(f"ran to {self.results[-1].outcome}")


async def waiting_run(r: Runner, db: SQLiteStore) -> str:
    await r.start({}, started_by="cli:operator")
    [pending] = await db.list_approvals()
    return pending.approval_id


async def test_a_decision_is_recorded_then_the_run_continues(db: SQLiteStore) -> None:
    r = runner(db, patterns=[TICKET], clock=ManualClock())
    approval_id = await waiting_run(r, db)
    continued = Continued()

    outcome = await decide_and_continue(
        db,
        approval_id,
        approved=True,
        by="alice",
        reason="see TCK-42",
        runner=r,
        drive=continued.drive,
        on_decided=continued.decided,
    )

    assert (outcome.queued, outcome.continued) == (False, True)
    assert continued.seen == ["decided approved", "ran to resolved"]
    # The run's own contract redacts the reason: its pattern knows tickets.
    assert outcome.approval.decision_reason == "see [ticket:redacted]"


async def test_a_run_under_another_contract_continues_under_the_version_it_started_with(
    db: SQLiteStore,
) -> None:
    # Started under one contract (as `proctor run --contract FILE` does); decided by a
    # process whose workflow has another: the store keeps the first by hash, and it rules.
    clock = ManualClock()
    approval_id = await waiting_run(runner(db, patterns=[TICKET], clock=clock), db)
    other = runner(db, patterns=[], clock=clock)
    continued = Continued()

    outcome = await decide_and_continue(
        db,
        approval_id,
        approved=True,
        by="alice",
        reason="see TCK-42",
        runner=other,
        drive=continued.drive,
    )

    assert outcome.approval.decision_reason == "see [ticket:redacted]"  # its own redaction
    assert (outcome.queued, outcome.continued) == (False, True)
    assert continued.seen == ["ran to resolved"]


async def test_a_stored_version_that_no_longer_hashes_to_its_name_is_never_enforced(
    tmp_path: Path,
) -> None:
    db = SQLiteStore(tmp_path / "runs.db")
    clock = ManualClock()
    try:
        approval_id = await waiting_run(runner(db, patterns=[TICKET], clock=clock), db)
        [version] = await db.contracts()
        await db.close()
        with closing(sqlite3.connect(tmp_path / "runs.db")) as raw:  # someone edits it
            body = dict(version.body, redaction={"patterns": []})
            raw.execute(
                "UPDATE contracts SET body = ? WHERE content_hash = ?",
                (json.dumps(body), version.content_hash),
            )
            raw.commit()
        db = SQLiteStore(tmp_path / "runs.db")
        other = runner(db, patterns=[], clock=clock)
        outcome = await decide_and_continue(
            db, approval_id, approved=True, by="alice", reason="TCK-1", runner=other, drive=None
        )
        assert (outcome.queued, outcome.continued) == (False, False)  # recorded, not run
        with pytest.raises(RunStateError, match="keeps no version of the contract"):
            await other.resume(outcome.approval.run_id)
    finally:
        await db.close()


async def test_a_queued_run_is_left_to_its_workers(db: SQLiteStore) -> None:
    r = runner(db, patterns=[], clock=ManualClock())
    approval_id = await waiting_run(r, db)
    [pending] = await db.list_approvals()
    await db.enqueue(QueueItem(run_id=pending.run_id, workflow="refunds", input={}))
    continued = Continued()

    outcome = await decide_and_continue(
        db, approval_id, approved=False, by="alice", reason="no", runner=r, drive=continued.drive
    )

    assert (outcome.queued, outcome.continued) == (True, False)
    assert continued.results == []


async def test_without_a_runner_the_decision_is_only_recorded(db: SQLiteStore) -> None:
    approval_id = await waiting_run(runner(db, patterns=[], clock=ManualClock()), db)

    outcome = await decide_and_continue(
        db, approval_id, approved=True, by="alice", runner=None, drive=Continued().drive
    )

    assert outcome.approval.status == "approved"
    assert (outcome.queued, outcome.continued) == (False, False)


async def test_too_late_the_expiry_is_recorded_and_the_run_escalates(db: SQLiteStore) -> None:
    clock = ManualClock()
    r = runner(db, patterns=[], clock=clock)
    approval_id = await waiting_run(r, db)
    clock.advance(61)
    continued = Continued()

    with pytest.raises(ApprovalExpiredError):
        await decide_and_continue(
            db,
            approval_id,
            approved=True,
            by="alice",
            runner=r,
            drive=continued.drive,
            on_decided=continued.decided,
            clock=clock,
        )

    assert continued.seen == ["ran to escalated"]


async def test_whoever_started_the_run_may_not_decide(db: SQLiteStore) -> None:
    r = runner(db, patterns=[], clock=ManualClock())
    approval_id = await waiting_run(r, db)

    with pytest.raises(AccessDenied, match="separation of duties"):
        await decide_and_continue(
            db, approval_id, approved=True, by="Operator", runner=r, drive=Continued().drive
        )
