"""``AgentSession``: an outside agent's calls go through the whole governed path, and the
session is an ordinary run (recorded, verifiable, approvals by a person)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proctor.cli import app
from proctor.contracts import Contract
from proctor.integrations import AgentSession
from proctor.runtime import Workflow, decide_approval
from proctor.store import (
    MemoryStore,
    ModelCalled,
    PolicyDecided,
    SQLiteStore,
    ToolFinished,
    Usage,
    row_to_event,
    verify_run,
)
from proctor.tools import Registry, tool

REFUNDS: list[dict[str, Any]] = []


@tool("crm.lookup", idempotent=True)
def lookup(customer: str) -> dict[str, Any]:
    """Find a customer."""
    if customer == "nobody":
        raise LookupError("no such customer")
    return {"customer": customer, "tier": "gold"}


@tool("billing.refund", effect="write", idempotent=True)
def refund(customer: str, amount: float) -> dict[str, Any]:
    """Refund a customer."""
    REFUNDS.append({"customer": customer, "amount": amount})
    return {"refunded": amount}


def workflow(**contract: Any) -> Workflow:
    document = {
        "workflow": "desk",
        "approvals": [{"tool": "billing.refund", "when": "args.amount > 100"}],
        **contract,
    }
    return Workflow(
        name="desk",
        registry=Registry([lookup, refund]),
        contract=Contract.model_validate(document),
        instructions="An outside agent's desk.",
        default_model="scripted:none",
    )


@pytest.fixture(autouse=True)
def _clear() -> None:
    REFUNDS.clear()


async def test_calls_are_governed_and_the_session_is_a_recorded_run() -> None:
    store = MemoryStore()
    session = await AgentSession.start(
        store, workflow(), agent="desktop client", started_by="ada@example.com"
    )

    found = await session.call("crm.lookup", {"customer": "c-1"})
    assert (found.status, found.result) == ("ok", {"customer": "c-1", "tier": "gold"})
    unknown = await session.call("admin.drop_tables", {})
    assert unknown.status == "denied"
    assert "admin.drop_tables" in unknown.message
    invalid = await session.call("billing.refund", {"customer": "c-1"})
    assert invalid.status == "denied"
    assert "amount" in invalid.message
    failed = await session.call("crm.lookup", {"customer": "nobody"})
    assert (failed.status, failed.message) == ("error", "no such customer")
    small = await session.call("billing.refund", {"customer": "c-1", "amount": 20})
    assert small.status == "ok"

    result = await session.close("Done for today.")
    assert result is not None
    assert result.outcome == "resolved"
    assert REFUNDS == [{"customer": "c-1", "amount": 20}]
    assert (await verify_run(store, session.run_id)).ok
    record = await store.get_run(session.run_id)
    assert record is not None
    assert record.model == "agent:desktop-client"
    events = [row_to_event(row).data for row in await store.events(session.run_id)]
    turns = [e for e in events if isinstance(e, ModelCalled)]
    assert [c.name for t in turns for c in t.tool_calls] == [
        "crm.lookup",
        "admin.drop_tables",
        "billing.refund",
        "crm.lookup",
        "billing.refund",
    ]
    assert turns[-1].text == "Done for today."
    denied = [e.rule for e in events if isinstance(e, PolicyDecided) and e.decision == "deny"]
    assert denied == ["registry.unregistered_tool", "schema.invalid_arguments"]
    assert sum(isinstance(e, ToolFinished) for e in events) == 3
    assert (await session.call("crm.lookup", {"customer": "c-2"})).status == "ended"


async def test_a_call_needing_approval_waits_and_its_repeat_continues_once_decided() -> None:
    store = MemoryStore()
    session = await AgentSession.start(store, workflow(), started_by="ada@example.com")
    big = {"customer": "c-1", "amount": 500}

    asked = await session.call("billing.refund", big)
    assert asked.status == "pending"
    assert asked.approval_id is not None
    assert f"proctor approve {asked.approval_id}" in asked.message
    other = await session.call("crm.lookup", {"customer": "c-1"})
    assert other.status == "pending"
    assert "billing.refund" in other.message
    again = await session.call("billing.refund", big)
    assert (again.status, again.approval_id) == ("pending", asked.approval_id)
    assert REFUNDS == []

    with pytest.raises(Exception, match="started"):  # the agent's principal cannot approve
        await decide_approval(store, asked.approval_id, approved=True, by="ada@example.com")
    await decide_approval(store, asked.approval_id, approved=True, by="bob@example.com")
    done = await session.call("billing.refund", big)
    assert (done.status, done.result) == ("ok", {"refunded": 500})
    assert REFUNDS == [big]
    assert (await session.call("crm.lookup", {"customer": "c-1"})).status == "ok"

    second = await session.call("billing.refund", {"customer": "c-2", "amount": 300})
    assert second.status == "pending"
    assert second.approval_id is not None
    await decide_approval(
        store, second.approval_id, approved=False, by="bob@example.com", reason="too much"
    )
    refused = await session.call("billing.refund", {"customer": "c-2", "amount": 300})
    assert refused.status == "denied"
    assert REFUNDS == [big]
    result = await session.close()
    assert result is not None
    assert result.outcome == "resolved"
    assert (await verify_run(store, session.run_id)).ok


async def test_a_ceiling_ends_the_session_and_says_so() -> None:
    store = MemoryStore()
    session = await AgentSession.start(store, workflow(limits={"max_tool_calls": 1}))
    assert (await session.call("crm.lookup", {"customer": "c-1"})).status == "ok"
    over = await session.call("crm.lookup", {"customer": "c-2"})
    assert over.status == "ended"
    assert session.ended
    assert "max_tool_calls" in over.message or "tool calls" in over.message
    assert (await session.call("crm.lookup", {"customer": "c-3"})).status == "ended"


async def test_the_cli_decides_an_agent_runs_approval_and_leaves_the_rest_to_its_session(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    store = SQLiteStore(db)
    session = await AgentSession.start(store, workflow(), started_by="ada@example.com")
    asked = await session.call("billing.refund", {"customer": "c-1", "amount": 500})
    assert asked.approval_id is not None

    approved = await asyncio.to_thread(
        CliRunner().invoke, app, ["--db", str(db), "approve", asked.approval_id, "--as", "bob"]
    )
    assert approved.exit_code == 0, approved.output
    assert "continues when the agent repeats the call" in approved.output
    resumed = await asyncio.to_thread(
        CliRunner().invoke, app, ["--db", str(db), "resume", session.run_id]
    )
    assert resumed.exit_code != 0
    assert "Traceback" not in resumed.output

    done = await session.call("billing.refund", {"customer": "c-1", "amount": 500})
    assert done.status == "ok"
    await session.close()
    await store.close()


async def test_the_agents_usage_is_recorded_and_its_failure_ends_the_run() -> None:
    store = MemoryStore()
    session = await AgentSession.start(store, workflow())
    spent = Usage(input_tokens=120, output_tokens=30)
    assert (await session.call("crm.lookup", {"customer": "c-1"}, usage=spent)).status == "ok"

    result = await session.fail("the agent's model went away")

    assert result is not None
    assert result.outcome == "failed"
    assert "the agent's model went away" in (result.state.finish_reason or "")
    events = [row_to_event(row).data for row in await store.events(session.run_id)]
    turns = [e.usage for e in events if isinstance(e, ModelCalled)]
    assert turns == [spent]
    assert (await verify_run(store, session.run_id)).ok


async def test_the_agents_own_model_usage_is_priced_as_its_model() -> None:
    from proctor.gateway import PriceTable
    from proctor.store import Usage

    store = MemoryStore()
    session = await AgentSession.start(store, workflow(), priced_as="gpt-4o-mini")
    spent = Usage(input_tokens=1200, output_tokens=300)
    assert (await session.call("crm.lookup", {"customer": "c-1"}, usage=spent)).status == "ok"
    result = await session.close(usage=spent)
    assert result is not None
    expected = PriceTable().cost("gpt-4o-mini", spent)
    assert expected is not None
    assert result.state.tokens == 2 * spent.total
    assert result.state.cost_usd == pytest.approx(2 * expected)

    unknown = await AgentSession.start(MemoryStore(), workflow(), priced_as="my-own-llama")
    await unknown.call("crm.lookup", {"customer": "c-1"}, usage=spent)
    ended = await unknown.close()
    assert ended is not None
    assert ended.state.cost_usd == 0.0  # no known price: the turns cost nothing here
