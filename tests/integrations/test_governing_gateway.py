"""The governing gateway: an agent that only changes its base_url, with the official
``openai`` client against a fake upstream, gets only allowed calls back; denied ones are
answered to the model, and approvals pause the conversation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from openai.types.chat import ChatCompletionMessageFunctionToolCall, ChatCompletionMessageParam

from proctor.contracts import Contract
from proctor.gateway import Gateway
from proctor.integrations import GoverningGateway
from proctor.runtime import decide_approval
from proctor.store import (
    PolicyDecided,
    RunFilter,
    SQLiteStore,
    Store,
    ToolFinished,
    row_to_event,
    verify_run,
)
from support.fake_openai import FakeOpenAIServer
from support.fake_replies import Completion, FakeToolCall
from support.http_endpoint import Endpoint, one_model_config, running_endpoint

CONTRACT = Contract.model_validate(
    {
        "workflow": "desk",
        "tools": {"lookup": {"effect": "read"}},
        "forbidden_tools": ["admin_reset"],
        "approvals": [{"tool": "refund", "when": "args.amount > 100"}],
    }
)
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
            },
        },
    }
    for name, properties in {
        "lookup": {"customer": {"type": "string"}},
        "refund": {"customer": {"type": "string"}, "amount": {"type": "number"}},
        "admin_reset": {},
    }.items()
]


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "upstream-secret")
    monkeypatch.setenv("ALICE_KEY", "sk-alice")
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "proctor.db")
    yield store
    await store.close()


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, db: SQLiteStore) -> AsyncIterator[Endpoint]:
    config = one_model_config(
        upstream.base_url,
        routes={"default": ["small"]},
        keys=[{"name": "alice", "key_env": "ALICE_KEY"}],
    )

    def govern(gateway: Gateway, store: Store) -> GoverningGateway:
        return GoverningGateway(store, gateway, {"alice": CONTRACT})

    async with running_endpoint(config, db, govern=govern) as running:
        yield running


def call(name: str, **arguments: Any) -> FakeToolCall:
    return FakeToolCall(
        name=name, arguments=json.dumps(arguments), id=f"call_{name}_{len(arguments)}"
    )


async def test_only_allowed_calls_reach_the_client_and_the_conversation_is_a_run(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    upstream.enqueue(
        Completion(text=None, tool_calls=[call("admin_reset")]),  # denied: never sent on
        Completion(text=None, tool_calls=[call("lookup", customer="c-1")]),
        Completion(text=None, tool_calls=[call("refund", customer="c-1", amount=20)]),
        Completion(text="Refunded 20 to c-1."),
    )
    client = endpoint.client()
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are a help desk."},
        {"role": "user", "content": "Refund c-1 twenty euros."},
    ]
    seen: list[str] = []
    results = {"lookup": {"customer": "c-1", "tier": "gold"}, "refund": {"refunded": 20}}
    for _ in range(5):
        answer = await client.chat.completions.create(
            model="default", messages=messages, tools=TOOLS
        )
        message = answer.choices[0].message
        if not message.tool_calls:
            break
        assert len(message.tool_calls) == 1
        tool_call = message.tool_calls[0]
        assert isinstance(tool_call, ChatCompletionMessageFunctionToolCall)
        seen.append(tool_call.function.name)
        messages.append(message.model_dump(exclude_none=True))  # type: ignore[arg-type]
        messages.append(
            {
                "role": "tool",
                "tool_call_id": tool_call.id,
                "content": json.dumps(results[tool_call.function.name]),
            }
        )
    assert seen == ["lookup", "refund"]
    assert message.content == "Refunded 20 to c-1."
    # The model was told of the denial; the client never saw the call.
    second = upstream.bodies[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "admin_reset"
    assert "forbidden" in second[-1]["content"]

    runs = await db.list_runs(RunFilter())
    assert len(runs) == 1
    assert runs[0].outcome == "resolved"
    assert (await verify_run(db, runs[0].run_id)).ok
    events = [row_to_event(row).data for row in await db.events(runs[0].run_id)]
    decided = [(e.tool, e.decision) for e in events if isinstance(e, PolicyDecided)]
    assert decided[0] == ("admin_reset", "deny")
    finished = [(e.tool, e.ok, e.result) for e in events if isinstance(e, ToolFinished)]
    assert finished == [("lookup", True, results["lookup"]), ("refund", True, {"refunded": 20})]


async def test_a_call_needing_approval_pauses_the_conversation_until_decided(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    upstream.enqueue(
        Completion(text=None, tool_calls=[call("refund", customer="c-2", amount=500)]),
        Completion(text="Refunded 500 to c-2."),
    )
    client = endpoint.client()
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Refund c-2 five hundred euros."}
    ]
    waiting = await client.chat.completions.create(model="default", messages=messages, tools=TOOLS)
    text = waiting.choices[0].message.content or ""
    assert "proctor approve ap_" in text
    assert not waiting.choices[0].message.tool_calls
    approval_id = text.split("proctor approve ")[1].split("`")[0]

    messages += [{"role": "assistant", "content": text}, {"role": "user", "content": "And?"}]
    still = await client.chat.completions.create(model="default", messages=messages, tools=TOOLS)
    assert approval_id in (still.choices[0].message.content or "")

    await decide_approval(db, approval_id, approved=True, by="bob")
    go = await client.chat.completions.create(model="default", messages=messages, tools=TOOLS)
    calls = [
        c
        for c in go.choices[0].message.tool_calls or []
        if isinstance(c, ChatCompletionMessageFunctionToolCall)
    ]
    assert [c.function.name for c in calls] == ["refund"]
    assert json.loads(calls[0].function.arguments) == {"customer": "c-2", "amount": 500}
    messages.append(go.choices[0].message.model_dump(exclude_none=True))  # type: ignore[arg-type]
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": '{"refunded": 500}'})
    done = await client.chat.completions.create(model="default", messages=messages, tools=TOOLS)
    assert done.choices[0].message.content == "Refunded 500 to c-2."
    assert len(upstream.bodies) == 2  # the upstream was asked twice, never while waiting


async def test_langchain_chat_openai_is_governed_by_its_base_url_alone(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    from langchain_core.messages import HumanMessage, ToolMessage

    upstream.enqueue(
        Completion(text=None, tool_calls=[call("admin_reset")]),
        Completion(text=None, tool_calls=[call("lookup", customer="c-7")]),
        Completion(text="c-7 is a gold customer."),
    )
    model = langchain_openai.ChatOpenAI(
        model="default", base_url=endpoint.base_url, api_key="sk-alice", max_retries=0
    ).bind_tools(TOOLS)
    history: list[Any] = [HumanMessage("Who is c-7?")]
    first = await model.ainvoke(history)
    assert [c["name"] for c in first.tool_calls] == ["lookup"]  # admin_reset never arrives
    history += [first, ToolMessage('{"tier": "gold"}', tool_call_id=first.tool_calls[0]["id"])]
    final = await model.ainvoke(history)
    assert final.content == "c-7 is a gold customer."
    runs = await db.list_runs(RunFilter())
    assert [run.outcome for run in runs] == ["resolved"]


async def test_a_client_that_never_sends_the_result_ends_its_run_without_spending(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    import asyncio

    config = one_model_config(upstream.base_url, keys=[{"name": "alice", "key_env": "ALICE_KEY"}])

    def govern(gateway: Gateway, store: Store) -> GoverningGateway:
        return GoverningGateway(store, gateway, {"alice": CONTRACT}, client_timeout_s=0.2)

    upstream.enqueue(Completion(text=None, tool_calls=[call("lookup", customer="c-5")]))
    async with running_endpoint(config, db, govern=govern) as running:
        answer = await running.client().chat.completions.create(
            model="small", messages=[{"role": "user", "content": "Who is c-5?"}], tools=TOOLS
        )
        assert answer.choices[0].message.tool_calls
        for _ in range(100):
            runs = await db.list_runs(RunFilter())
            if runs and runs[0].status == "finished":
                break
            await asyncio.sleep(0.05)
    assert [run.outcome for run in runs] != ["resolved"]
    assert runs[0].status == "finished"
    assert len(upstream.bodies) == 1  # the model was not asked again for nobody
