"""LangChain's ``create_agent`` and a LangGraph graph of one's own, with LangChain's fake
chat model: every tool call governed, approvals as interrupts, the run a Proctor run."""

from __future__ import annotations

import asyncio
import json
import runpy
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph", reason="the langgraph extra is not installed")

from langchain.agents import create_agent
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import tools_condition
from langgraph.types import Command
from pydantic import Field

from proctor.contracts import Contract
from proctor.errors import RunStateError, install_command
from proctor.integrations.langgraph import ProctorMiddleware
from proctor.runtime import decide_approval
from proctor.store import (
    MemoryStore,
    ModelCalled,
    PolicyDecided,
    RunStarted,
    ToolFinished,
    row_to_event,
    verify_run,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "langgraph_refunds.py"
RAN: list[tuple[str, dict[str, Any]]] = []
CONTRACT = Contract.model_validate(
    {
        "workflow": "desk",
        "tools": {
            "lookup_customer": {"effect": "read"},
            "refund": {"effect": "write", "idempotent": True},
        },
        "forbidden_tools": ["delete_account"],
        "approvals": [{"tool": "refund", "when": "args.amount > 100"}],
    }
)


@tool
def lookup_customer(customer: str) -> dict[str, Any]:
    """Find a customer."""
    RAN.append(("lookup_customer", {"customer": customer}))
    if customer == "nobody":
        raise LookupError("no such customer")
    return {"customer": customer, "tier": "gold"}


@tool
def refund(customer: str, amount: float) -> str:
    """Refund a customer."""
    RAN.append(("refund", {"customer": customer, "amount": amount}))
    return f"refunded {amount:g} to {customer}"


@tool
def delete_account(customer: str) -> str:
    """Delete a customer's account."""
    RAN.append(("delete_account", {"customer": customer}))
    return "deleted"


TOOLS = [lookup_customer, refund, delete_account]


class ScriptedChat(GenericFakeChatModel):
    """LangChain's fake chat model, with tools bound and the messages it was shown kept."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


def calls(
    *turns: tuple[str, dict[str, Any]] | list[tuple[str, dict[str, Any]]] | str,
) -> Iterator[AIMessage]:
    """The model's turns: a call, several calls at once, or its final answer."""
    for number, turn in enumerate(turns):
        if isinstance(turn, str):
            yield AIMessage(content=turn)
            continue
        group = turn if isinstance(turn, list) else [turn]
        yield AIMessage(
            content="",
            tool_calls=[
                {"name": name, "args": args, "id": f"call-{number}-{index}", "type": "tool_call"}
                for index, (name, args) in enumerate(group)
            ],
        )


def config(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


def replies(model: ScriptedChat) -> list[ToolMessage]:
    """The tool messages in the model's last prompt (the thread's, oldest first)."""
    return [m for m in model.seen[-1] if isinstance(m, ToolMessage)]


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


async def test_create_agent_calls_are_governed_and_the_thread_is_a_proctor_run() -> None:
    store = MemoryStore()
    model = ScriptedChat(
        messages=calls(
            ("lookup_customer", {"customer": "c-1"}),
            ("delete_account", {"customer": "c-1"}),
            ("refund", {"customer": "c-1"}),
            ("refund", {"customer": "c-1", "amount": 20}),
            "Refunded 20 to c-1.",
        )
    )
    async with ProctorMiddleware(store, CONTRACT, started_by="ada@example.com") as proctor:
        agent = create_agent(model, TOOLS, middleware=[proctor], checkpointer=InMemorySaver())
        state = await agent.ainvoke(
            {"messages": [HumanMessage("Refund c-1 twenty")]}, config("t-1")
        )

        assert state["messages"][-1].content == "Refunded 20 to c-1."
        assert RAN == [
            ("lookup_customer", {"customer": "c-1"}),
            ("refund", {"customer": "c-1", "amount": 20}),
        ]
        found, denied, invalid, done = replies(model)
        assert found.status == "success"
        assert json.loads(str(found.content)) == {"customer": "c-1", "tier": "gold"}
        assert denied.status == "error"
        assert str(denied.content).startswith("Proctor denied this call:")
        assert "delete_account" in str(denied.content)
        assert invalid.status == "error"
        assert "amount" in str(invalid.content)
        assert (done.status, done.content) == ("success", "refunded 20 to c-1")

        (run_id,) = proctor.runs("t-1")
    record = await store.get_run(run_id)
    assert record is not None
    assert (record.model, record.status) == ("agent:langgraph", "finished")
    assert (await verify_run(store, run_id)).ok
    events = [row_to_event(row).data for row in await store.events(run_id)]
    turns = [e for e in events if isinstance(e, ModelCalled)]
    assert [c.name for t in turns for c in t.tool_calls] == [
        "lookup_customer",
        "delete_account",
        "refund",
        "refund",
    ]
    assert turns[-1].text == "Refunded 20 to c-1."
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    assert started.input == {"thread_id": "t-1", "request": "Refund c-1 twenty"}
    denials = [e.rule for e in events if isinstance(e, PolicyDecided) and e.decision == "deny"]
    assert denials == ["contract.forbidden_tool", "schema.invalid_arguments"]
    assert [e.tool for e in events if isinstance(e, ToolFinished)] == ["lookup_customer", "refund"]


async def test_an_approval_interrupts_the_graph_and_the_resume_runs_the_tool_once() -> None:
    store = MemoryStore()
    big = {"customer": "c-1", "amount": 500}
    model = ScriptedChat(
        messages=calls([("lookup_customer", {"customer": "c-1"}), ("refund", big)], "Done.")
    )
    user: RunnableConfig = {"configurable": {"thread_id": "t-2", "user": "ada@example.com"}}
    users = ProctorMiddleware(store, CONTRACT, started_by=lambda c: c["configurable"]["user"])
    async with users as proctor:
        agent = create_agent(model, TOOLS, middleware=[proctor], checkpointer=InMemorySaver())
        paused = await agent.ainvoke({"messages": [HumanMessage("Refund c-1")]}, user)

        (question,) = paused["__interrupt__"]
        approval_id = question.value["approval_id"]
        assert question.value["tool"] == "refund"
        assert question.value["args"] == big
        assert RAN == [("lookup_customer", {"customer": "c-1"})]
        again = await agent.ainvoke(Command(resume="go on"), user)
        assert "__interrupt__" in again  # nobody decided yet: it asks again
        assert RAN == [("lookup_customer", {"customer": "c-1"})]

        with pytest.raises(Exception, match="started"):  # the run's own principal cannot
            await decide_approval(store, approval_id, approved=True, by="ada@example.com")
        await decide_approval(store, approval_id, approved=True, by="bob@example.com")
        state = await agent.ainvoke(Command(resume="decided"), user)

        assert state["messages"][-1].content == "Done."
        assert RAN == [("lookup_customer", {"customer": "c-1"}), ("refund", big)]
        assert [m.content for m in replies(model)][-1] == "refunded 500 to c-1"
        (run_id,) = proctor.runs("t-2")
    assert (await verify_run(store, run_id)).ok
    events = [row_to_event(row).data for row in await store.events(run_id)]
    assert [e.tool for e in events if isinstance(e, ToolFinished)] == ["lookup_customer", "refund"]


def test_a_resume_value_can_carry_the_decision_in_a_sync_graph_of_ones_own() -> None:
    store = MemoryStore()
    model = ScriptedChat(
        messages=calls(
            ("refund", {"customer": "c-1", "amount": 300}),
            ("refund", {"customer": "c-2", "amount": 400}),
            "Refunded c-1; c-2 was refused.",
        )
    )
    with ProctorMiddleware(store, CONTRACT, started_by="ada@example.com") as proctor:
        graph = StateGraph(MessagesState)
        graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
        graph.add_node("tools", proctor.tool_node(TOOLS))
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", tools_condition)
        graph.add_edge("tools", "agent")
        app = graph.compile(checkpointer=InMemorySaver())

        first = app.invoke({"messages": [HumanMessage("Refund both")]}, config("t-3"))
        assert first["__interrupt__"][0].value["args"]["customer"] == "c-1"
        for wrong in ({"approved": True}, {"approved": True, "by": "ada@example.com"}):
            again = app.invoke(Command(resume=wrong), config("t-3"))
            (question,) = again["__interrupt__"]
            assert question.value["args"]["customer"] == "c-1"
        assert (
            "someone other" in again["__interrupt__"][0].value["problem"]
            or "started" in again["__interrupt__"][0].value["problem"]
        )
        assert RAN == []
        second = app.invoke(Command(resume={"approved": True, "by": "bob"}), config("t-3"))
        assert second["__interrupt__"][0].value["args"]["customer"] == "c-2"
        state = app.invoke(
            Command(resume={"approved": False, "by": "bob", "reason": "too much"}), config("t-3")
        )

        assert RAN == [("refund", {"customer": "c-1", "amount": 300})]
        assert state["messages"][-1].content == "Refunded c-1; c-2 was refused."
        refused = replies(model)[-1]
        assert refused.status == "error"
        assert "too much" in str(refused.content)
        (run_id,) = proctor.runs("t-3")
    record = asyncio.run(store.get_run(run_id))
    assert record is not None
    assert record.status == "finished"
    assert asyncio.run(verify_run(store, run_id)).ok


async def test_parallel_calls_in_a_graph_of_ones_own_wait_for_the_approval() -> None:
    store = MemoryStore()
    big = {"customer": "c-1", "amount": 300}
    model = ScriptedChat(
        messages=calls(
            [("refund", big), ("lookup_customer", {"customer": "c-1"})],
            ("lookup_customer", {"customer": "nobody"}),
            "Refunded c-1.",
        )
    )
    async with ProctorMiddleware(store, CONTRACT, started_by="ada@example.com") as proctor:
        graph = StateGraph(MessagesState)

        async def agent(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(state["messages"])]}

        graph.add_node("agent", agent)
        graph.add_node("tools", proctor.tool_node(TOOLS, handle_tool_errors=True))
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", tools_condition)
        graph.add_edge("tools", "agent")
        app = graph.compile(checkpointer=InMemorySaver())

        paused = await app.ainvoke({"messages": [HumanMessage("Refund c-1")]}, config("t-4"))
        assert [q.value["tool"] for q in paused["__interrupt__"]] == ["refund"]
        decision = {"approved": True, "by": "bob@example.com"}
        state = await app.ainvoke(Command(resume=decision), config("t-4"))

        assert state["messages"][-1].content == "Refunded c-1."
        assert RAN == [
            ("refund", big),  # the lookup waited for the refund's approval, and ran once
            ("lookup_customer", {"customer": "c-1"}),
            ("lookup_customer", {"customer": "nobody"}),
        ]
        failed = replies(model)[-1]
        assert failed.status == "error"
        assert "no such customer" in str(failed.content)
        (run_id,) = proctor.runs("t-4")
        await proctor.aclose("t-4")
    record = await store.get_run(run_id)
    assert record is not None
    assert record.status == "finished"
    assert (await verify_run(store, run_id)).ok
    events = [row_to_event(row).data for row in await store.events(run_id)]
    assert [(e.tool, e.ok) for e in events if isinstance(e, ToolFinished)] == [
        ("refund", True),
        ("lookup_customer", True),
        ("lookup_customer", False),
    ]


def test_a_ceiling_stops_the_graph_and_the_next_call_starts_a_new_run() -> None:
    store = MemoryStore()
    limits = CONTRACT.limits.model_copy(update={"max_tool_calls": 1})
    model = ScriptedChat(
        messages=calls(
            ("lookup_customer", {"customer": "c-1"}),
            ("lookup_customer", {"customer": "c-2"}),
            ("lookup_customer", {"customer": "c-3"}),
            "Found c-3.",
        )
    )
    with ProctorMiddleware(store, CONTRACT.model_copy(update={"limits": limits})) as proctor:
        agent = create_agent(model, TOOLS, middleware=[proctor], checkpointer=InMemorySaver())
        with pytest.raises(RunStateError, match="Proctor ended this thread's run"):
            agent.invoke({"messages": [HumanMessage("Look them up")]}, config("t-5"))
        agent = create_agent(model, TOOLS, middleware=[proctor], checkpointer=InMemorySaver())
        state = agent.invoke({"messages": [HumanMessage("And c-3")]}, config("t-5"))
        assert state["messages"][-1].content == "Found c-3."
        first, second = proctor.runs("t-5")
    for run_id, outcome in ((first, "escalated"), (second, "resolved")):
        record = asyncio.run(store.get_run(run_id))
        assert record is not None
        assert (record.status, record.outcome) == ("finished", outcome)
    assert RAN == [
        ("lookup_customer", {"customer": "c-1"}),
        ("lookup_customer", {"customer": "c-3"}),
    ]


def test_without_the_extra_the_import_names_the_install_command() -> None:
    blocked = "import sys\nfor name in ('langgraph', 'langchain', 'langchain_core'):\n"
    code = blocked + "    sys.modules[name] = None\nimport proctor.integrations.langgraph\n"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1
    assert ran.stderr.strip().endswith(
        "MissingExtraError: proctor.integrations.langgraph needs the langgraph extra: "
        f"{install_command('proctor-runtime[langgraph]')}"
    )


def test_the_example_runs() -> None:
    out = runpy.run_path(str(EXAMPLE), run_name="example")
    report = asyncio.run(out["main"]())
    assert report["approval"]["tool"] == "refund"
    assert report["refunds"] == [{"customer": "c-42", "amount": 250.0}]
    assert report["verified"] is True
