"""A run whose log or record was edited in the database drives nothing: resuming it, or
deciding its approval, is refused with the first bad event named."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from proctor.contracts import Contract
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Runner, UnverifiedRunError, Workflow, decide_approval
from proctor.store import SQLiteStore
from proctor.tools import Registry, tool

PAID: list[float] = []


@tool("bank.pay", effect="write")
def pay(amount: float) -> dict[str, bool]:
    """Pay."""
    PAID.append(amount)
    return {"paid": True}


def runner(store: SQLiteStore) -> Runner:
    turns = [Turn(calls=[("bank.pay", {"amount": 24500})]), Turn(text="Paid.")]
    flow = Workflow(
        name="payments",
        registry=Registry([pay]),
        contract=Contract.model_validate(
            {"workflow": "payments", "approvals": [{"tool": "bank.pay"}]}
        ),
        instructions="Pay.",
        default_model="scripted:test",
        scripts={"test": lambda: ScriptedModel(scenario="test", script=list(turns))},
    )
    return Runner(store, flow)


@pytest.fixture
async def waiting(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, str, str]]:
    """A run waiting for the approval of a 24,500 payment."""
    PAID.clear()
    store = SQLiteStore(tmp_path / "runs.db")
    started = await runner(store).start({})
    assert started.state.pending_approval is not None
    yield store, started.run_id, started.state.pending_approval
    await store.close()


def edit(store: SQLiteStore, sql: str, *params: object) -> None:
    with closing(sqlite3.connect(store.path, isolation_level=None)) as db:
        db.execute(sql, params)


async def test_an_approval_of_an_edited_call_is_refused(
    waiting: tuple[SQLiteStore, str, str],
) -> None:
    store, run_id, approval_id = waiting
    with closing(sqlite3.connect(store.path)) as db:
        seq, content = db.execute(
            "SELECT seq, content FROM events WHERE run_id = ? AND type = 'tool_proposed'",
            (run_id,),
        ).fetchone()
    shown = {**orjson.loads(content), "arguments": {"amount": 245}}
    edit(store, "UPDATE events SET content = ? WHERE seq = ?", orjson.dumps(shown), seq)

    with pytest.raises(UnverifiedRunError) as refused:
        await decide_approval(store, approval_id, approved=True, by="approver")

    assert refused.value.bad_seq == seq
    assert f"run {run_id} does not verify (event {seq})" in str(refused.value)
    assert "proctor audit verify" in str(refused.value)
    approval = await store.get_approval(approval_id)
    assert approval is not None
    assert approval.status == "pending"  # nothing was recorded


async def test_a_run_whose_record_was_edited_is_not_resumed(
    waiting: tuple[SQLiteStore, str, str],
) -> None:
    store, run_id, approval_id = waiting
    await decide_approval(store, approval_id, approved=True, by="approver")
    edit(store, "UPDATE runs SET contract_hash = ? WHERE run_id = ?", "e" * 64, run_id)

    with pytest.raises(UnverifiedRunError, match="runs table was edited"):
        await runner(store).resume(run_id)
    assert PAID == []


async def test_an_untouched_run_resumes_and_pays(waiting: tuple[SQLiteStore, str, str]) -> None:
    store, run_id, approval_id = waiting
    await decide_approval(store, approval_id, approved=True, by="approver")
    assert (await runner(store).resume(run_id)).outcome == "resolved"
    assert PAID == [24500]


async def test_an_approval_shown_with_edited_arguments_is_refused(
    waiting: tuple[SQLiteStore, str, str],
) -> None:
    # The approver is shown the approvals table: 24,500 edited to 245 there (the log is
    # untouched, so the chain itself verifies).
    store, run_id, approval_id = waiting
    edit(
        store,
        "UPDATE approvals SET arguments = ? WHERE approval_id = ?",
        orjson.dumps({"amount": 245}),
        approval_id,
    )

    with pytest.raises(UnverifiedRunError, match="approvals table was edited") as refused:
        await decide_approval(store, approval_id, approved=True, by="approver")

    assert "arguments differ" in str(refused.value)
    assert refused.value.run_id == run_id
    approval = await store.get_approval(approval_id)
    assert approval is not None
    assert approval.status == "pending"
    assert PAID == []
