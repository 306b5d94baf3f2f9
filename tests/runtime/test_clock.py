"""The runtime reads time from its clock (``Runner(clock=...)``): events, expiry, totals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import ManualClock, Runner, Workflow
from proctor.store import ApprovalRequested, RunFinished, SQLiteStore, row_to_event
from proctor.tools import Registry, tool

T0 = 1_700_000_000.0


@tool("billing.refund", effect="write", idempotent=True)
def refund(amount: float) -> dict[str, Any]:
    """Refund."""
    return {"refunded": amount}


def runner(store: SQLiteStore, clock: ManualClock) -> Runner:
    contract = Contract.model_validate(
        {
            "workflow": "refunds",
            "approvals": [
                {"tool": "billing.refund", "when": "args.amount > 100", "expires_after_seconds": 60}
            ],
        }
    )
    turns = [Turn(calls=[("billing.refund", {"amount": 500})]), Turn(text="done")]
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


async def test_events_expiry_and_totals_follow_the_runners_clock(db: SQLiteStore) -> None:
    clock = ManualClock(T0)
    r = runner(db, clock)
    waiting = await r.start({})

    events = [row_to_event(row) for row in await db.events(waiting.run_id)]
    assert {event.ts for event in events} == {T0}
    [requested] = [e.data for e in events if isinstance(e.data, ApprovalRequested)]
    assert requested.expires_at == T0 + 60
    record = await db.get_run(waiting.run_id)
    assert record is not None
    assert record.started_at == T0

    clock.advance(59)  # a minute, less a second: the approval still stands
    assert (await r.resume(waiting.run_id)).status == "awaiting_approval"
    clock.advance(1)
    expired = await r.resume(waiting.run_id)

    assert expired.outcome == "escalated"
    events = [row_to_event(row) for row in await db.events(waiting.run_id)]
    assert events[-1].ts == T0 + 60
    [finished] = [e.data for e in events if isinstance(e.data, RunFinished)]
    assert finished.totals.duration_s == 0.0  # the wait for a person is not working time
