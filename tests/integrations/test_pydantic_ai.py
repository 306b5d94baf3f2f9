"""pydantic-ai agents under ``Governor``: each tool call goes through the governed path
(on pydantic-ai's own TestModel and FunctionModel), approvals are its deferred tools, and
the agent's runs are ordinary, verifiable Proctor runs."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, ModelRetry
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.tools import ToolDenied

from proctor.contracts import Contract
from proctor.errors import AccessDenied
from proctor.integrations.pydantic_ai import ApprovalMismatch, Governor, RunEnded
from proctor.runtime import decide_approval
from proctor.store import (
    ApprovalDecided,
    EventData,
    MemoryStore,
    ModelCalled,
    PolicyDecided,
    SQLiteStore,
    Store,
    ToolFinished,
    row_to_event,
    verify_run,
)

RAN: list[tuple[str, dict[str, Any]]] = []
Output = str | DeferredToolRequests
Turn = Sequence[tuple[str, dict[str, Any]]]


def contract(**terms: Any) -> Contract:
    return Contract.model_validate(
        {
            "workflow": "desk",
            "tools": {"lookup": {"effect": "read"}},
            "forbidden_tools": ["delete_customer"],
            "approvals": [{"tool": "refund", "when": "args.amount > 100"}],
            **terms,
        }
    )


def scripted(*turns: Turn) -> FunctionModel:
    """Each response calls one turn's tools; then a final text naming what came back."""
    remaining: Iterator[Turn] = iter(turns)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = next(remaining, None)
        if turn is None:
            last = messages[-1]
            parts = last.parts if isinstance(last, ModelRequest) else []
            seen = [p.model_response_str() for p in parts if isinstance(p, ToolReturnPart)]
            return ModelResponse(parts=[TextPart("seen: " + " | ".join(seen))])
        return ModelResponse(parts=[ToolCallPart(name, args) for name, args in turn])

    return FunctionModel(respond)


def desk(model: FunctionModel | TestModel, governor: Governor) -> Agent[None, Output]:
    """An ordinary pydantic-ai agent; ``capabilities=[governor]`` is Proctor's line."""
    agent: Agent[None, Output] = Agent(
        model, output_type=[str, DeferredToolRequests], name="desk", capabilities=[governor]
    )

    @agent.tool_plain
    def lookup(customer: str) -> dict[str, Any]:
        """Find a customer."""
        if customer == "retry":
            raise ModelRetry("no such customer; ask for their id")
        if customer == "boom":
            raise RuntimeError("the CRM is down")
        RAN.append(("lookup", {"customer": customer}))
        return {"customer": customer, "tier": "gold"}

    @agent.tool_plain
    def refund(customer: str, amount: float) -> str:
        """Refund a customer."""
        RAN.append(("refund", {"customer": customer, "amount": amount}))
        return f"refunded {amount:g}"

    @agent.tool_plain
    def delete_customer(customer: str) -> str:
        """Delete a customer."""
        RAN.append(("delete_customer", {"customer": customer}))
        return "deleted"

    return agent


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


async def events(store: Store, run_id: str) -> list[EventData]:
    assert (await verify_run(store, run_id)).ok
    return [row_to_event(row).data for row in await store.events(run_id)]


def called(found: list[EventData]) -> list[str]:
    return [c.name for e in found if isinstance(e, ModelCalled) for c in e.tool_calls]


async def test_an_allowed_call_runs_and_its_result_reaches_the_agent() -> None:
    store = MemoryStore()
    governor = Governor(store, contract(), started_by="ada")
    agent = desk(TestModel(call_tools=["lookup"]), governor)

    result = await agent.run("Who is customer a?")

    assert result.output == '{"lookup":{"customer":"a","tier":"gold"}}'
    assert RAN == [("lookup", {"customer": "a"})]
    run_id = governor.runs[result.run_id]
    record = await store.get_run(run_id)
    assert record is not None
    assert (record.model, record.outcome) == ("agent:desk", "resolved")
    found = await events(store, run_id)
    assert called(found) == ["lookup"]
    (finished,) = [e for e in found if isinstance(e, ToolFinished)]
    assert finished.result == {"customer": "a", "tier": "gold"}
    turns = [e for e in found if isinstance(e, ModelCalled)]
    assert turns[-1].text == result.output
    # The agent's own model requests are counted on the run's turns.
    spent = sum(t.usage.total for t in turns)
    assert spent == result.usage.input_tokens + result.usage.output_tokens > 0


async def test_a_denied_call_never_runs_and_the_model_sees_why() -> None:
    store = MemoryStore()
    governor = Governor(store, contract())
    agent = desk(scripted([("delete_customer", {"customer": "c-1"})]), governor)

    result = await agent.run("Close c-1's account.")

    assert RAN == []
    assert result.output == (
        'seen: {"error":"Proctor denied this call: delete_customer is forbidden by the desk '
        'contract"}'
    )
    denied = [m for m in result.all_messages() if isinstance(m, ModelRequest)][-1].parts[0]
    assert isinstance(denied, ToolReturnPart)
    assert denied.outcome == "failed"
    found = await events(store, governor.runs[result.run_id])
    rules = [e.rule for e in found if isinstance(e, PolicyDecided)]
    assert rules == ["contract.forbidden_tool"]
    assert not any(isinstance(e, ToolFinished) for e in found)


async def test_an_approval_ends_the_run_deferred_and_the_continued_run_calls_once(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    governor = Governor(store, contract(), started_by="ada@example.com")
    big = {"customer": "c-1", "amount": 500}
    agent = desk(scripted([("lookup", {"customer": "c-1"}), ("refund", big)]), governor)

    first = await agent.run("Refund c-1 500.")

    requests = first.output
    assert isinstance(requests, DeferredToolRequests)
    (call,) = requests.approvals
    assert (call.tool_name, call.args) == ("refund", big)
    asked = requests.metadata[call.tool_call_id]
    approval_id = asked["proctor_approval_id"]
    assert asked["proctor_run_id"] == governor.runs[first.run_id]
    assert RAN == [("lookup", {"customer": "c-1"})]

    approve = DeferredToolResults(approvals={call.tool_call_id: True})
    with pytest.raises(ApprovalMismatch, match="answered_by"):  # Proctor has no decision yet
        await agent.run(message_history=first.all_messages(), deferred_tool_results=approve)
    with pytest.raises(AccessDenied, match="separation of duties"):
        await decide_approval(store, approval_id, approved=True, by="ada@example.com")
    await decide_approval(store, approval_id, approved=True, by="bob")

    second = await agent.run(message_history=first.all_messages(), deferred_tool_results=approve)

    assert second.output == 'seen: {"customer":"c-1","tier":"gold"} | refunded 500'
    assert RAN == [("lookup", {"customer": "c-1"}), ("refund", {"customer": "c-1", "amount": 500})]
    run_id = governor.runs[first.run_id]
    assert governor.runs[second.run_id] == run_id  # both agent runs: one Proctor run
    found = await events(store, run_id)
    assert called(found) == ["lookup", "refund"]
    assert [e.decided_by for e in found if isinstance(e, ApprovalDecided)] == ["bob"]
    assert [e.tool for e in found if isinstance(e, ToolFinished)] == ["lookup", "refund"]
    record = await store.get_run(run_id)
    assert record is not None
    assert record.outcome == "resolved"
    await store.close()


async def test_deferred_results_record_who_decided_and_a_denial_goes_on() -> None:
    store = MemoryStore()
    governor = Governor(store, contract(), started_by="ada")
    turns = scripted(
        [("refund", {"customer": "c-1", "amount": 300})],
        [("refund", {"customer": "c-2", "amount": 400})],
        [("lookup", {"customer": "c-2"})],
    )
    agent = desk(turns, governor)

    first = await agent.run("Refund both.")
    assert isinstance(first.output, DeferredToolRequests)
    (call,) = first.output.approvals
    approved = DeferredToolResults(
        approvals={call.tool_call_id: True}, answered_by={call.tool_call_id: "bob"}
    )
    second = await agent.run(message_history=first.all_messages(), deferred_tool_results=approved)
    assert isinstance(second.output, DeferredToolRequests)
    (call,) = second.output.approvals
    denied = DeferredToolResults(
        approvals={call.tool_call_id: ToolDenied("not this month")},
        answered_by={call.tool_call_id: "bob"},
    )
    third = await agent.run(message_history=second.all_messages(), deferred_tool_results=denied)

    assert third.output == 'seen: {"customer":"c-2","tier":"gold"}'
    assert [name for name, _ in RAN] == ["refund", "lookup"]
    found = await events(store, governor.runs[first.run_id])
    decisions = [
        (e.approved, e.decided_by, e.reason) for e in found if isinstance(e, ApprovalDecided)
    ]
    assert decisions == [(True, "bob", ""), (False, "bob", "not this month")]
    assert called(found) == ["refund", "refund", "lookup"]


async def test_a_run_can_wait_for_the_decision_in_proctor() -> None:
    store = MemoryStore()
    governor = Governor(store, contract(), started_by="ada", approval_wait_s=10)
    agent = desk(scripted([("refund", {"customer": "c-1", "amount": 500})]), governor)

    async def bob() -> None:
        while not (pending := await store.list_approvals("pending")):
            await asyncio.sleep(0.02)
        await decide_approval(store, pending[0].approval_id, approved=True, by="bob")

    deciding = asyncio.create_task(bob())
    result = await agent.run("Refund c-1 500.")
    await deciding

    assert result.output == "seen: refunded 500"
    assert RAN == [("refund", {"customer": "c-1", "amount": 500})]
    record = await store.get_run(governor.runs[result.run_id])
    assert record is not None
    assert record.outcome == "resolved"


async def test_the_tools_own_errors_reach_the_agent_as_they_would_without_proctor() -> None:
    store = MemoryStore()
    governor = Governor(store, contract())
    turns = scripted([("lookup", {"customer": "retry"})], [("lookup", {"customer": "boom"})])
    agent = desk(turns, governor)

    with pytest.raises(RuntimeError, match="the CRM is down"):
        await agent.run("Look them up.")

    (run_id,) = governor.runs.values()
    found = await events(store, run_id)
    errors = [e.error for e in found if isinstance(e, ToolFinished)]
    assert errors == ["no such customer; ask for their id", "the CRM is down"]
    record = await store.get_run(run_id)
    assert record is not None
    assert record.outcome == "failed"  # the agent's failure, recorded as a model error


async def test_a_ceiling_stops_the_agent_and_says_so() -> None:
    store = MemoryStore()
    governor = Governor(store, contract(limits={"max_tool_calls": 1}))
    turns = scripted([("lookup", {"customer": "c-1"})], [("lookup", {"customer": "c-2"})])
    agent = desk(turns, governor)

    with pytest.raises(RunEnded, match="max_tool_calls"):
        await agent.run("Look them up.")

    assert RAN == [("lookup", {"customer": "c-1"})]
    (run_id,) = governor.runs.values()
    record = await store.get_run(run_id)
    assert record is not None
    assert record.outcome == "escalated"


def test_the_example_runs(tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "examples" / "pydantic_ai_refunds.py"
    spec = importlib.util.spec_from_file_location("pydantic_ai_refunds", path)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    shown = asyncio.run(example.main(tmp_path / "runs.db"))

    assert shown["outcome"] == "resolved"
    assert shown["ran"] == ["lookup_customer", "refund"]
    assert shown["verified"] is True
