"""The OpenAI Agents SDK under Proctor: a wrapped agent's tool calls go through the
contract, approvals are the SDK's interruptions, and each SDK run is a recorded Proctor
run. The model is the SDK's own test model (``agents.testing.ScriptedModel``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import (
    Agent,
    AgentsException,
    Runner,
    RunResult,
    default_tool_error_function,
    function_tool,
    handoff,
    set_tracing_disabled,
)
from agents.mcp import MCPServerStdio
from agents.testing import ScriptedModel, assistant_message, function_call

from proctor.contracts import Contract
from proctor.evals import ReplayOptions, capture_case, case_yaml, load_suite, run_suite
from proctor.gateway import Gateway, Message, ToolMessage, Turn
from proctor.gateway import ScriptedModel as ProctorScriptedModel
from proctor.integrations.openai_agents import Governor
from proctor.runtime import decide_approval
from proctor.store import (
    ApprovalDecided,
    EventData,
    MemoryStore,
    ModelCalled,
    PolicyDecided,
    RunStarted,
    ToolFinished,
    row_to_event,
    verify_run,
)

set_tracing_disabled(True)  # nothing is exported to OpenAI from the tests

ROOT = Path(__file__).parents[2]
CONTRACT = {
    "workflow": "sdk_desk",
    "tools": {"lookup": {"effect": "read"}},
    "forbidden_tools": ["delete_customer"],
    "approvals": [{"tool": "refund", "when": "args.amount > 100"}],
}
RAN: list[tuple[str, Any]] = []  # what the real tools did


@function_tool
def lookup(customer: str) -> dict[str, Any]:
    """Find a customer."""
    RAN.append(("lookup", customer))
    if customer == "nobody":
        raise LookupError("no such customer")
    return {"customer": customer, "tier": "gold"}


@function_tool
def refund(customer: str, amount: float) -> dict[str, Any]:
    """Refund a customer."""
    RAN.append(("refund", amount))
    return {"refunded": amount}


@function_tool
def delete_customer(customer: str) -> str:
    """Delete a customer."""
    RAN.append(("delete_customer", customer))
    return "deleted"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def call(name: str, call_id: str, **arguments: Any) -> Any:
    return function_call(name, arguments, call_id=call_id)


def desk(model: Any, governor: Governor) -> Agent[Any]:
    agent = Agent(name="desk", instructions="Help.", tools=[lookup, refund, delete_customer])
    return governor.wrap(agent.clone(model=model))


def outputs(model: ScriptedModel) -> dict[str, str]:
    """The tool outputs the model saw last, by call id."""
    assert model.last_call is not None
    items = model.last_call.input
    assert isinstance(items, list)
    return {
        str(item["call_id"]): str(item["output"])
        for item in items
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    }


async def events(store: MemoryStore, run_id: str | None) -> list[EventData]:
    assert run_id is not None
    assert (await verify_run(store, run_id)).ok
    return [row_to_event(row).data for row in await store.events(run_id)]


def proposed(found: Sequence[EventData]) -> list[str]:
    return [c.name for e in found if isinstance(e, ModelCalled) for c in e.tool_calls]


async def test_allowed_denied_and_failing_calls_and_the_run_is_a_proctor_run() -> None:
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), started_by="bot")
    model = ScriptedModel(
        [
            [call("lookup", "c1", customer="C-42")],
            [call("delete_customer", "c2", customer="C-42")],
            [call("lookup", "c3", customer="nobody")],
            [call("refund", "c4", customer="C-42")],  # no amount: the schema refuses it
            [assistant_message("Done.")],
        ]
    )

    result = await Runner.run(desk(model, governor), "Help C-42.")

    assert result.final_output == "Done."
    seen = outputs(model)
    assert seen["c1"] == str({"customer": "C-42", "tier": "gold"})
    assert seen["c2"].startswith("Proctor denied this call:")
    assert "forbidden" in seen["c2"]
    assert seen["c3"] == default_tool_error_function(None, LookupError())  # type: ignore[arg-type]
    assert seen["c4"].startswith("Proctor denied this call:")
    assert "amount" in seen["c4"]
    assert RAN == [("lookup", "C-42"), ("lookup", "nobody")]

    record = await store.get_run(governor.run_id or "")
    assert record is not None
    assert (record.model, record.outcome, record.started_by) == ("agent:desk", "resolved", "bot")
    found = await events(store, governor.run_id)
    assert proposed(found) == ["lookup", "delete_customer", "lookup", "refund"]
    started = next(e for e in found if isinstance(e, RunStarted))
    assert started.input == {"input": "Help C-42."}
    denied = [e.rule for e in found if isinstance(e, PolicyDecided) and e.decision == "deny"]
    assert denied == ["contract.forbidden_tool", "schema.invalid_arguments"]
    finished = [e for e in found if isinstance(e, ToolFinished)]
    assert [(e.ok, e.error) for e in finished] == [(True, None), (False, "no such customer")]
    last = [e for e in found if isinstance(e, ModelCalled)][-1]
    assert last.text == "Done."


async def approval_run(store: MemoryStore, governor: Governor) -> tuple[RunResult, Agent[Any]]:
    model = ScriptedModel(
        [
            [call("refund", "c1", customer="C-42", amount=500)],
            [assistant_message("Refund handled.")],
        ]
    )
    agent = desk(model, governor)
    return await Runner.run(agent, "Refund C-42 500."), agent


async def test_a_call_needing_approval_is_an_interruption_and_runs_once_approved() -> None:
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), started_by="bot")
    result, agent = await approval_run(store, governor)

    (item,) = result.interruptions
    assert item.name == "refund"
    approval_id = governor.approval_id(item)
    assert approval_id is not None
    assert RAN == []
    approval = await store.get_approval(approval_id)
    assert approval is not None
    assert approval.status == "pending"

    state = result.to_state()
    with pytest.raises(Exception, match="started"):  # the run's principal cannot approve
        await governor.approve(state, item, by="bot")
    await governor.approve(state, item, by="ada@example.com")
    result = await Runner.run(agent, state)

    assert result.final_output == "Refund handled."
    assert RAN == [("refund", 500)]
    found = await events(store, governor.run_id)
    decided = [e for e in found if isinstance(e, ApprovalDecided)]
    assert [(d.approved, d.approval_id) for d in decided] == [(True, approval_id)]
    assert sum(isinstance(e, ToolFinished) for e in found) == 1


async def test_a_decision_made_elsewhere_suffices_and_an_sdk_approval_alone_does_not() -> None:
    store = MemoryStore()
    contract = Contract.model_validate(CONTRACT)
    alone = Governor(store, contract, started_by="bot")
    model = ScriptedModel(
        [[call("refund", "c1", customer="C-42", amount=500)], [assistant_message("Asked.")]]
    )
    agent = desk(model, alone)
    result = await Runner.run(agent, "Refund C-42 500.")
    item = result.interruptions[0]
    approval_id = alone.approval_id(item)
    state = result.to_state()
    state.approve(item)  # in the SDK only: Proctor has no decision
    await Runner.run(agent, state)
    assert RAN == []
    assert f"needs approval {approval_id}" in outputs(model)["c1"]

    elsewhere = Governor(store, contract, started_by="bot")
    result, agent = await approval_run(store, elsewhere)
    item = result.interruptions[0]
    await decide_approval(store, elsewhere.approval_id(item) or "", approved=True, by="ada")
    state = result.to_state()
    state.approve(item)  # as after `proctor approve` or the web UI
    result = await Runner.run(agent, state)
    assert result.final_output == "Refund handled."
    assert RAN == [("refund", 500)]


async def test_the_run_captures_as_an_eval_case_that_replays(tmp_path: Path) -> None:
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), started_by="bot")
    result, agent = await approval_run(store, governor)
    state = result.to_state()
    await governor.approve(state, result.interruptions[0], by="ada@example.com")
    await Runner.run(agent, state)
    run_id = governor.run_id or ""

    document = await capture_case(store, run_id, workflow=governor.workflow())
    (tmp_path / "refund.yaml").write_text(case_yaml(document, run_id=run_id))
    replayed = await run_suite(
        load_suite(tmp_path),
        loader=lambda _name: governor.workflow(),
        options=ReplayOptions(recorded=True),
    )

    (case,) = replayed.cases
    assert (case.passed, case.outcome, case.calls) == (True, "resolved", ["refund"])
    assert RAN == [("refund", 500)]  # replay answers tools from the case's fixtures


async def test_a_refused_call_never_runs_and_the_model_is_told_why() -> None:
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), started_by="bot")
    model = ScriptedModel(
        [
            [call("refund", "c1", customer="C-42", amount=500)],
            [assistant_message("Could not refund.")],
        ]
    )
    agent = desk(model, governor)
    result = await Runner.run(agent, "Refund C-42 500.")
    state = result.to_state()
    await governor.reject(state, result.interruptions[0], by="ada@example.com", reason="too much")
    result = await Runner.run(agent, state)

    assert result.final_output == "Could not refund."
    assert RAN == []
    told = outputs(model)["c1"]
    assert told.startswith("Proctor denied this call:")
    assert "too much" in told
    found = await events(store, governor.run_id)
    assert [e.approved for e in found if isinstance(e, ApprovalDecided)] == [False]
    record = await store.get_run(governor.run_id or "")
    assert record is not None
    assert record.status == "finished"


async def test_a_call_behind_a_held_one_waits_with_it_and_each_runs_once() -> None:
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), started_by="bot")
    model = ScriptedModel(
        [
            [call("refund", "c1", customer="C-42", amount=500), call("lookup", "c2", customer="C")],
            [assistant_message("Both done.")],
        ]
    )
    agent = desk(model, governor)
    result = await Runner.run(agent, "Refund and look up.")

    held = {item.call_id: governor.approval_id(item) for item in result.interruptions}
    assert held.keys() == {"c1", "c2"}
    assert held["c1"] is not None
    assert held["c2"] is None  # Proctor decides it when it runs, after c1
    assert RAN == []
    state = result.to_state()
    for item in result.interruptions:
        await governor.approve(state, item, by="ada@example.com")
    result = await Runner.run(agent, state)

    assert result.final_output == "Both done."
    assert sorted(RAN) == [("lookup", "C"), ("refund", 500)]
    assert set(outputs(model)) == {"c1", "c2"}
    found = await events(store, governor.run_id)
    assert sum(isinstance(e, ToolFinished) for e in found) == 2


async def test_an_ended_proctor_run_stops_the_sdk_run_and_the_next_run_is_new() -> None:
    store = MemoryStore()
    contract = Contract.model_validate({**CONTRACT, "limits": {"max_tool_calls": 1}})
    governor = Governor(store, contract, started_by="bot")
    model = ScriptedModel(
        [
            [call("lookup", "c1", customer="A")],
            [call("lookup", "c2", customer="B")],
            [call("lookup", "c3", customer="C")],
            [assistant_message("Fine.")],
        ]
    )
    agent = desk(model, governor)
    with pytest.raises(AgentsException, match="max_tool_calls"):
        await Runner.run(agent, "Look up A and B.")
    first = governor.run_id
    assert RAN == [("lookup", "A")]

    result = await Runner.run(agent, "Look up C.")
    assert result.final_output == "Fine."
    assert governor.run_id != first
    assert RAN == [("lookup", "A"), ("lookup", "C")]
    record = await store.get_run(first or "")
    assert record is not None
    assert record.status == "finished"
    assert (await verify_run(store, first or "")).ok


async def test_handoffs_are_governed_and_streamed_runs_too() -> None:
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), started_by="bot")
    model = ScriptedModel(
        [
            [call("transfer_to_billing", "h1")],
            [call("delete_customer", "c1", customer="C-42")],
            [call("refund", "c2", customer="C-42", amount=30)],
            [assistant_message("Billing refunded 30.")],
        ]
    )
    billing = Agent(name="billing", tools=[refund, delete_customer], model=model)
    triage = Agent(name="triage", handoffs=[handoff(billing)], model=model)

    streamed = Runner.run_streamed(governor.wrap(triage), "Refund 30 to C-42.")
    async for _ in streamed.stream_events():
        pass

    assert streamed.final_output == "Billing refunded 30."
    assert RAN == [("refund", 30)]
    assert outputs(model)["c1"].startswith("Proctor denied this call:")
    record = await store.get_run(governor.run_id or "")
    assert record is not None
    assert (record.model, record.outcome) == ("agent:triage", "resolved")
    assert proposed(await events(store, governor.run_id)) == ["delete_customer", "refund"]


async def test_mcp_tools_are_governed_as_the_sdk_lists_them(tmp_path: Path) -> None:
    pytest.importorskip("mcp", reason="the mcp extra is not installed")
    ledger = tmp_path / "ledger.txt"
    contract = Contract.model_validate(
        {
            "workflow": "mcp_desk",
            "tools": {"lookup": {"effect": "read"}},
            "forbidden_tools": ["admin_reset"],
            "approvals": [{"tool": "refund", "when": "args.amount > 100"}],
        }
    )
    store = MemoryStore()
    governor = Governor(store, contract, started_by="bot")
    model = ScriptedModel(
        [
            [call("lookup", "c1", customer="C-42")],
            [call("admin/reset", "c2")],
            [call("refund", "c3", customer="C-42", amount=20)],
            [assistant_message("Refunded.")],
        ]
    )
    upstream = MCPServerStdio(
        {
            "command": sys.executable,
            "args": [str(ROOT / "tests" / "support" / "mcp_upstream.py")],
            "env": {**os.environ, "DESK_LEDGER": str(ledger)},
        },
        name="desk",
    )
    async with upstream:
        agent = governor.wrap(Agent(name="mcp desk", mcp_servers=[upstream], model=model))
        result = await Runner.run(agent, "Refund C-42 20.")

    assert result.final_output == "Refunded."
    seen = outputs(model)
    assert "gold" in seen["c1"]
    assert seen["c2"].startswith("Proctor denied this call:")
    assert "refunded 20.0" in seen["c3"]
    assert ledger.read_text() == "C-42 20.0\n"
    found = await events(store, governor.run_id)
    assert proposed(found) == ["lookup", "admin_reset", "refund"]
    assert sum(isinstance(e, ToolFinished) for e in found) == 2


async def test_model_calls_go_through_proctors_gateway_and_are_recorded() -> None:
    def script(messages: Sequence[Message]) -> Turn:
        replies = [m for m in messages if isinstance(m, ToolMessage)]
        if not replies:
            return Turn(calls=[("lookup", {"customer": "C-42"})])
        tier = "gold" if "'tier': 'gold'" in replies[-1].content else "?"
        return Turn(text=f"{replies[-1].name} said {tier}")

    gateway = Gateway.single(ProctorScriptedModel(scenario="desk", script=script))
    store = MemoryStore()
    governor = Governor(store, Contract.model_validate(CONTRACT), gateway=gateway)
    agent = governor.wrap(Agent(name="desk", instructions="Help.", tools=[lookup]))

    result = await Runner.run(agent, "Look up C-42.")

    assert result.final_output == "lookup said gold"
    assert RAN == [("lookup", "C-42")]
    calls = await store.gateway_calls("agent:desk")
    assert [(c.route, c.model, c.status) for c in calls] == [
        ("scripted:desk", "scripted:desk", 200)
    ] * 2
    assert all(c.input_tokens > 0 for c in calls)
    assert proposed(await events(store, governor.run_id)) == ["lookup"]
    # ... and the governed run counts the model's tokens on its turns.
    turns = [e for e in await events(store, governor.run_id) if isinstance(e, ModelCalled)]
    assert sum(t.usage.total for t in turns) == sum(c.input_tokens + c.output_tokens for c in calls)


def test_the_example_runs_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import importlib.util

    monkeypatch.delenv("PROCTOR_DB", raising=False)  # the home's store (conftest's tmp)
    path = ROOT / "examples" / "openai_agents_refunds.py"
    spec = importlib.util.spec_from_file_location("openai_agents_refunds", path)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    asyncio.run(example.main())

    out = capsys.readouterr().out
    assert "waiting: refund" in out
    assert "approved by ada@example.com" in out
    assert "refunds paid: [{'customer_id': 'C-42', 'amount': 240.0}]" in out
    assert "resolved, chain ok: True" in out
