"""Streaming through the OpenAI-compatible endpoint, read by the official ``openai`` client.

The endpoint relays the upstream's chunks as they arrive (the fake upstream shows it was
asked to stream, and ``HeldStream`` proves the first chunk is through before the upstream
has finished). Deployments differ by model name on one ``FakeOpenAIServer``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)

from proctor.gateway.providers import LeanOpenAIModel
from proctor.store import SQLiteStore
from support.fake_openai import Completion, ErrorReply, FakeOpenAIServer, TruncatedStream
from support.http_endpoint import Endpoint, running_endpoint
from support.stream_replies import HeldStream, ScriptedChunks, call_arguments, call_start, text

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
FETCH_PO: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "erp.fetch_po",
        "description": "Fetch a purchase order.",
        "parameters": {"type": "object", "properties": {"po": {"type": "string"}}},
    },
}


def config(base_url: str) -> dict[str, Any]:
    upstream = {"base_url": base_url, "api_key_env": "FAKE_UPSTREAM_KEY"}
    return {
        "models": {
            "small": {"model": "gpt-4o-mini", **upstream},
            "large": {"model": "gpt-4o", **upstream},
        },
        "routes": {"default": ["small", "large"]},
        "retry": {"max_retries": 1, "backoff_s": 0.01, "max_backoff_s": 0.05},
        "cooldown": {"allowed_failures": 10, "cooldown_s": 1},
        "keys": [{"name": "alice", "key_env": "ALICE_KEY"}],
    }


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, db: SQLiteStore) -> AsyncIterator[Endpoint]:
    async with running_endpoint(config(upstream.base_url), db) as running:
        yield running


async def read(
    stream: openai.AsyncStream[ChatCompletionChunk], into: list[ChatCompletionChunk] | None = None
) -> list[ChatCompletionChunk]:
    """Every chunk of ``stream``; also appended to ``into`` as they come (kept on a break)."""
    chunks = [] if into is None else into
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


def contents(chunks: list[ChatCompletionChunk]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


async def test_text_arrives_in_the_pieces_the_upstream_sent(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(ScriptedChunks(deltas=[text("Hel"), text("lo, wor"), text("ld!")]))
    raw = await endpoint.client().chat.completions.with_raw_response.create(
        model="default", messages=HI, stream=True
    )
    chunks = await read(raw.parse())

    assert contents(chunks) == ["Hel", "lo, wor", "ld!"]
    assert upstream.bodies[0]["stream"] is True
    assert upstream.bodies[0]["stream_options"] == {"include_usage": True}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    # One id for the whole answer, the gateway's own; the model as a whole answer names it.
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].id != "chatcmpl-up"
    assert {c.model for c in chunks} == {"gpt-4o-mini"}
    assert (raw.headers["x-proctor-deployment"], raw.headers["x-proctor-cache"]) == (
        "small",
        "miss",
    )
    assert float(raw.headers["x-proctor-overhead-ms"]) >= 0
    assert "x-proctor-cost-usd" not in raw.headers  # known only at the end: in the ledger


async def test_the_first_chunk_is_relayed_before_the_upstream_finishes(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    held = HeldStream(text="one two three", before=2)
    upstream.enqueue(held)
    stream = await endpoint.client().chat.completions.create(
        model="small", messages=HI, stream=True
    )
    async with asyncio.timeout(5):  # buffering the whole answer would wait here forever
        first = [await anext(stream), await anext(stream)]
    assert contents(first) == ["one "]
    held.release.set()
    rest = await read(stream)
    assert contents(rest) == ["two ", "three"]


async def test_tool_call_arguments_split_across_chunks_reassemble(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    fragments = ['{"po"', ': "PO', '-9"}']
    deltas = [call_start(0, "c9", "erp__fetch_po")] + [call_arguments(0, f) for f in fragments]
    upstream.enqueue(
        ScriptedChunks(deltas=deltas, finish="tool_calls"),
        ScriptedChunks(deltas=deltas, finish="tool_calls"),
    )
    client = endpoint.client()

    chunks = await read(
        await client.chat.completions.create(
            model="small", messages=HI, tools=[FETCH_PO], stream=True
        )
    )
    relayed = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert [(c.index, c.id) for c in relayed] == [(0, "c9"), (0, None), (0, None), (0, None)]
    assert [c.function.arguments if c.function else None for c in relayed] == ["", *fragments]
    assert relayed[0].function is not None
    assert relayed[0].function.name == "erp.fetch_po"  # the upstream's wire name, mapped back

    async with client.chat.completions.stream(
        model="small", messages=[{"role": "user", "content": "again"}], tools=[FETCH_PO]
    ) as helper:
        final = await helper.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert (call.id, call.function.name) == ("c9", "erp.fetch_po")
    assert json.loads(call.function.arguments) == {"po": "PO-9"}
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("include_usage", [True, False])
async def test_usage_is_sent_only_when_asked(
    endpoint: Endpoint, upstream: FakeOpenAIServer, include_usage: bool
) -> None:
    upstream.enqueue(Completion(text="a b", prompt_tokens=12, completion_tokens=3))
    chunks = await read(
        await endpoint.client().chat.completions.create(
            model="small",
            messages=HI,
            stream=True,
            stream_options={"include_usage": include_usage},
        )
    )
    usages = [c.usage for c in chunks if c.usage is not None]
    if include_usage:
        assert [(u.prompt_tokens, u.completion_tokens, u.total_tokens) for u in usages] == [
            (12, 3, 15)
        ]
        assert chunks[-1].choices == []
    else:
        assert usages == []
        assert all(c.choices for c in chunks)
    assert upstream.bodies[0]["stream_options"] == {"include_usage": True}  # asked regardless


async def test_a_429_before_the_first_chunk_is_retried(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(
        ErrorReply(status=429, message="slow down", retry_after=0.05), Completion(text="fine")
    )
    chunks = await read(
        await endpoint.client().chat.completions.create(model="small", messages=HI, stream=True)
    )
    assert "".join(contents(chunks)) == "fine"
    assert [(b["model"], b["stream"]) for b in upstream.bodies] == [
        ("gpt-4o-mini", True),
        ("gpt-4o-mini", True),
    ]


async def test_a_deployment_failing_before_the_first_chunk_falls_back(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(*[ErrorReply(status=500, message="boom")] * 2, Completion(text="from large"))
    raw = await endpoint.client().chat.completions.with_raw_response.create(
        model="default", messages=HI, stream=True
    )
    chunks = await read(raw.parse())
    assert "".join(contents(chunks)) == "from large"
    assert raw.headers["x-proctor-deployment"] == "large"
    assert {c.model for c in chunks} == {"gpt-4o"}
    assert [b["model"] for b in upstream.bodies] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]


async def test_errors_before_the_first_chunk_are_ordinary_error_answers(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    client = endpoint.client()
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="nope", messages=HI, stream=True)
    upstream.enqueue(*[ErrorReply(status=503, message="overloaded")] * 4)
    with pytest.raises(openai.InternalServerError) as failed:
        await client.chat.completions.create(model="default", messages=HI, stream=True)
    assert failed.value.status_code == 502
    assert "every deployment of the route failed" in failed.value.message


async def test_a_stream_cut_after_some_chunks_ends_with_an_error_event(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    upstream.enqueue(TruncatedStream(text="one two three four", after_chunks=3))
    stream = await endpoint.client().chat.completions.create(
        model="default", messages=HI, stream=True
    )
    seen: list[ChatCompletionChunk] = []
    with pytest.raises(openai.APIError) as broken:
        await read(stream, seen)

    assert contents(seen) == ["one ", "two "]  # what came through before the cut
    assert "broke off" in broken.value.message
    body = broken.value.body
    assert isinstance(body, dict)
    assert (body["type"], body["code"]) == ("upstream_error", "connection")
    assert endpoint.gateway.router.breaker.failures("small") == 1
    # Not retried (chunks were relayed), not sent elsewhere, and never cached:
    assert len(upstream.bodies) == 1
    await endpoint.gateway.flush()
    again = await read(
        await endpoint.client().chat.completions.create(model="default", messages=HI, stream=True)
    )
    assert "".join(contents(again)) == "ok"
    assert len(upstream.bodies) == 2
    await endpoint.stop()
    cut, whole = reversed(await db.gateway_calls())
    assert (cut.status, cut.error, cut.deployment, cut.cache_hit) == (
        502,
        "connection",
        "small",
        False,
    )
    assert cut.cost_usd is not None
    assert cut.cost_usd > 0
    assert (whole.status, whole.error) == (200, None)


async def test_a_streamed_answer_is_cached_and_a_repeat_is_a_streamed_hit(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    upstream.enqueue(Completion(text="cache me please", prompt_tokens=100, completion_tokens=10))
    client = endpoint.client()
    first = await client.chat.completions.with_raw_response.create(
        model="small", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    first_chunks = await read(first.parse())
    await endpoint.gateway.flush()  # the cache write happens after the stream
    second = await client.chat.completions.with_raw_response.create(
        model="small", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    second_chunks = await read(second.parse())

    assert (first.headers["x-proctor-cache"], second.headers["x-proctor-cache"]) == ("miss", "hit")
    assert len(upstream.bodies) == 1
    assert "".join(contents(second_chunks)) == "".join(contents(first_chunks)) == "cache me please"
    assert len(contents(second_chunks)) > 1  # served as a stream, not one blob
    assert second_chunks[-1].usage is not None
    assert second_chunks[-1].usage.prompt_tokens == 100
    await endpoint.stop()
    miss, hit = reversed(await db.gateway_calls())
    assert (miss.cache_hit, miss.input_tokens, miss.output_tokens) == (False, 100, 10)
    assert miss.cost_usd == pytest.approx((100 * 0.15 + 10 * 0.60) / 1e6)
    assert (hit.cache_hit, hit.cost_usd) == (True, 0.0)


async def test_a_client_hanging_up_mid_stream_closes_the_upstream(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    # Generous bounds: under `make test`'s two workers a loaded host notices a hang-up late.
    held = HeldStream(text="one two three four", before=2, hold_s=30.0)
    upstream.enqueue(held)
    headers = {"authorization": "Bearer sk-alice"}
    request = {"model": "small", "messages": HI, "stream": True}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as http,
        http.stream("POST", f"{endpoint.base_url}/chat/completions", json=request) as answer,
    ):
        assert answer.headers["content-type"].startswith("text/event-stream")
        async for line in answer.aiter_lines():
            if line.startswith("data:"):
                break  # the first chunk, then hang up
    async with asyncio.timeout(20):
        while not held.hung_up.is_set():
            await asyncio.sleep(0.01)
    lean = endpoint.gateway.deployments["small"].client
    assert isinstance(lean, LeanOpenAIModel)
    assert lean._idle == []  # the half-read connection is not kept for reuse
    assert endpoint.gateway.router.breaker.failures("small") == 0  # not the upstream's fault
    await endpoint.stop()
    (row,) = await db.gateway_calls()
    assert (row.status, row.error, row.deployment) == (499, "client_disconnected", "small")
