"""``POST /v1/responses`` streamed: the typed events, read by the official ``openai`` client
(raw events and its ``responses.stream`` helper), a stream that breaks off, and LangChain's
``ChatOpenAI(use_responses_api=True)`` through the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.responses import FunctionToolParam, ResponseStreamEvent

from proctor.store import SQLiteStore
from support.fake_openai import Completion, FakeOpenAIServer, FakeToolCall, TruncatedStream
from support.http_endpoint import Endpoint, one_model_config, running_endpoint

LOOKUP: FunctionToolParam = {
    "type": "function",
    "name": "erp.lookup",
    "description": "Look a vendor up.",
    "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    "strict": None,
}
TEXT_AND_CALL = Completion(
    text="Looking it up.",
    tool_calls=[FakeToolCall(name="erp__lookup", id="call_9", arguments='{"name": "ACME"}')],
    prompt_tokens=20,
    completion_tokens=7,
)


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, db: SQLiteStore) -> AsyncIterator[Endpoint]:
    keys = [{"name": "alice", "key_env": "ALICE_KEY"}]
    config = one_model_config(upstream.base_url, keys=keys, cache={"backend": "none"})
    async with running_endpoint(config, db) as running:
        yield running


async def events_of(endpoint: Endpoint, **request: Any) -> list[ResponseStreamEvent]:
    stream = await endpoint.client().responses.create(model="small", stream=True, **request)
    return [event async for event in stream]


async def test_a_streamed_answer_is_the_typed_events_in_order(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(TEXT_AND_CALL)
    events = await events_of(endpoint, input="who is ACME?", tools=[LOOKUP])

    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events if e.type != "response.output_text.delta"]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Looking it up."
    assert len(deltas) > 1  # relayed piece by piece, as the upstream sent them
    created = events[0]
    assert created.type == "response.created"
    assert created.response.status == "in_progress"
    assert created.response.id.startswith("resp_")
    last = events[-1]
    assert last.type == "response.completed"
    final = last.response
    assert (final.id, final.status, final.model) == (
        created.response.id,
        "completed",
        "gpt-4o-mini",
    )
    assert final.output_text == "Looking it up."
    message, call = final.output
    assert message.type == "message"
    assert call.type == "function_call"
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_9",
        "erp.lookup",
        {"name": "ACME"},
    )
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 7)
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [e.output_index for e in added] == [0, 1]
    assert added[1].item.type == "function_call"
    assert added[1].item.id == call.id
    assert upstream.bodies[0]["stream"] is True


async def test_the_sdks_stream_helper_accumulates_the_same_response(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(TEXT_AND_CALL)
    async with endpoint.client().responses.stream(
        model="small", input="who is ACME?", tools=[LOOKUP]
    ) as stream:
        texts = [
            event.delta async for event in stream if event.type == "response.output_text.delta"
        ]
        final = await stream.get_final_response()
    assert "".join(texts) == final.output_text == "Looking it up."
    assert [item.type for item in final.output] == ["message", "function_call"]


async def test_a_stream_that_breaks_off_ends_with_error_and_response_failed(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    upstream.enqueue(TruncatedStream(text="one two three four five", after_chunks=3))
    events = await events_of(endpoint, input="count")
    error, failed = events[-2:]
    assert error.type == "error"
    assert error.code == "connection"  # the upstream hung up mid-stream
    assert failed.type == "response.failed"
    assert failed.response.status == "failed"
    assert failed.response.error is not None
    assert failed.response.error.code == "server_error"
    assert "broke" in failed.response.error.message
    await endpoint.stop()
    [row] = await db.gateway_calls()
    assert (row.status, row.error) == (502, "connection")


async def test_langchain_chat_openai_on_the_responses_api(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    model = langchain_openai.ChatOpenAI(
        model="small",
        base_url=endpoint.base_url,
        api_key="sk-alice",
        max_retries=0,
        use_responses_api=True,
    )
    try:
        await _tool_turn_and_streamed_answer(model, upstream)
    finally:
        await model.root_async_client.close()  # LangChain leaves its connections open


async def _tool_turn_and_streamed_answer(model: Any, upstream: FakeOpenAIServer) -> None:
    upstream.enqueue(TEXT_AND_CALL, Completion(text="ACME is a vendor."))
    with_tools = model.bind_tools([LOOKUP])
    asked = await with_tools.ainvoke("who is ACME?")
    assert [(c["name"], c["args"], c["id"]) for c in asked.tool_calls] == [
        ("erp.lookup", {"name": "ACME"}, "call_9")
    ]
    assert asked.usage_metadata is not None
    assert asked.usage_metadata["input_tokens"] == 20

    from langchain_core.messages import HumanMessage, ToolMessage

    history = [
        HumanMessage("who is ACME?"),
        asked,
        ToolMessage('{"kind": "vendor"}', tool_call_id="call_9"),
    ]
    chunks = [chunk async for chunk in with_tools.astream(history)]
    answer = chunks[0]
    for chunk in chunks[1:]:
        answer += chunk
    assert answer.text == "ACME is a vendor."
    sent = upstream.bodies[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "erp__lookup"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_9", "content": '{"kind": "vendor"}'}


async def test_a_cached_answer_streams_the_same_events(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    keys = [{"name": "alice", "key_env": "ALICE_KEY"}]
    config = one_model_config(upstream.base_url, keys=keys, cache={"backend": "store"})
    upstream.enqueue(TEXT_AND_CALL)
    async with running_endpoint(config, db) as running:
        first = await events_of(running, input="who is ACME?", tools=[LOOKUP])
        await running.gateway.flush()  # the cache write
        raw = await running.client().responses.with_raw_response.create(
            model="small", input="who is ACME?", tools=[LOOKUP], stream=True
        )
        assert raw.headers["x-proctor-cache"] == "hit"
        again = [event async for event in raw.parse()]
    assert len(upstream.bodies) == 1

    def shape(events: list[ResponseStreamEvent]) -> list[str]:
        return [e.type for e in events if e.type != "response.output_text.delta"]

    assert shape(again) == shape(first)
    last = again[-1]
    assert last.type == "response.completed"
    assert last.response.output_text == "Looking it up."
