"""``POST /v1/messages`` read by Anthropic's official SDK, in front of the fake Anthropic
API (route ``claude``) and the fake OpenAI-compatible server (route ``small``); and the
Anthropic provider behind ``/v1/chat/completions``, read by the ``openai`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import Message, MessageParam, ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam

from proctor.store import SQLiteStore
from support.fake_anthropic import FakeAnthropic, FakeError, FakeMessage
from support.fake_openai import Completion, FakeOpenAIServer, FakeToolCall
from support.http_endpoint import Endpoint, running_endpoint

HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
SCHEMA: dict[str, object] = {"type": "object", "properties": {"po": {"type": "string"}}}
FETCH_PO: ToolParam = {
    "name": "fetch_po",
    "description": "Fetch a purchase order.",
    "input_schema": SCHEMA,
}


def assistant(answer: Message) -> MessageParam:
    """An answer as the next request's assistant turn, blocks as they came."""
    blocks: Any = [block.model_dump() for block in answer.content]
    return {"role": "assistant", "content": blocks}


def config(openai_url: str) -> dict[str, Any]:
    return {
        "models": {
            "claude": {"provider": "anthropic", "model": "claude-sonnet-4"},
            "small": {"model": "gpt-4o-mini", "base_url": openai_url, "api_key_env": "UP_KEY"},
        },
        "retry": {"max_retries": 0},
        "keys": [
            {"name": "alice", "key_env": "ALICE_KEY"},
            {"name": "bob", "key_env": "BOB_KEY", "budget_usd": 0.001, "routes": ["claude"]},
        ],
    }


@pytest.fixture
def openai_upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    for name, value in (("UP_KEY", "up"), ("ALICE_KEY", "sk-alice"), ("BOB_KEY", "sk-bob")):
        monkeypatch.setenv(name, value)
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake() -> FakeAnthropic:
    return FakeAnthropic()


@pytest.fixture
async def endpoint(
    openai_upstream: FakeOpenAIServer, fake: FakeAnthropic, tmp_path: Path
) -> AsyncIterator[Endpoint]:
    store = SQLiteStore(tmp_path / "proctor.db")
    clients = {"claude": fake.model("claude-sonnet-4")}
    try:
        async with running_endpoint(config(openai_upstream.base_url), store, clients=clients) as up:
            yield up
    finally:
        await store.close()


async def test_a_whole_message(endpoint: Endpoint, fake: FakeAnthropic) -> None:
    fake.enqueue(FakeMessage(text="hello", input_tokens=12, cache_read=300, cache_creation=40))
    client = endpoint.anthropic()

    raw = await client.messages.with_raw_response.create(
        model="claude",
        max_tokens=100,
        system="be brief",
        messages=HI,
        extra_body={"top_k": 3},
    )
    answer = await raw.parse()

    assert answer.id.startswith("msg_")
    assert answer.model == "claude-sonnet-4"
    assert [(b.type, getattr(b, "text", None)) for b in answer.content] == [("text", "hello")]
    assert answer.stop_reason == "end_turn"
    assert answer.usage.input_tokens == 12  # Anthropic's count: without the cache's tokens
    assert answer.usage.cache_read_input_tokens == 300
    assert answer.usage.cache_creation_input_tokens == 40
    assert raw.headers["x-proctor-deployment"] == "claude"
    assert float(raw.headers["x-proctor-cost-usd"]) > 0
    sent = fake.requests[0].body
    assert sent["system"] == "be brief"
    assert sent["max_tokens"] == 100
    assert sent["top_k"] == 3  # a field the gateway does not act on, forwarded


async def test_a_streamed_message(endpoint: Endpoint, fake: FakeAnthropic) -> None:
    fake.enqueue(FakeMessage(text="one two three", input_tokens=8, output_tokens=3, cache_read=5))
    client = endpoint.anthropic()

    async with client.messages.stream(model="claude", max_tokens=50, messages=HI) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert "".join(pieces) == "one two three"
    assert len(pieces) > 1  # relayed as the upstream sent it, not in one piece
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 8
    assert final.usage.cache_read_input_tokens == 5
    assert final.usage.output_tokens == 3
    assert fake.requests[0].body["stream"] is True


async def test_tool_use_whole_and_streamed(endpoint: Endpoint, fake: FakeAnthropic) -> None:
    client = endpoint.anthropic()
    fake.enqueue(FakeMessage(text="Checking.", tool_uses=[("toolu_1", "fetch_po", {"po": "7"})]))
    answer = await client.messages.create(
        model="claude", max_tokens=100, messages=HI, tools=[FETCH_PO], tool_choice={"type": "any"}
    )
    assert answer.stop_reason == "tool_use"
    use = answer.content[1]
    assert use.type == "tool_use"
    assert (use.id, use.name, use.input) == ("toolu_1", "fetch_po", {"po": "7"})
    assert fake.requests[0].body["tool_choice"] == {"type": "any"}
    assert fake.requests[0].body["tools"] == [dict(FETCH_PO)]

    conversation: list[MessageParam] = [
        *HI,
        assistant(answer),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "total 5"}],
        },
    ]
    fake.enqueue(FakeMessage(tool_uses=[("toolu_2", "fetch_po", {"po": "8"})], text=None))
    async with client.messages.stream(
        model="claude", max_tokens=100, messages=conversation, tools=[FETCH_PO]
    ) as stream:
        final = await stream.get_final_message()

    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
        ("tool_use", {"po": "8"})
    ]
    sent = fake.requests[1].body["messages"]
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "total 5"}],
    }


async def test_thinking_and_cache_control_survive_the_round_trip(
    endpoint: Endpoint, fake: FakeAnthropic
) -> None:
    client = endpoint.anthropic()
    fake.enqueue(FakeMessage(text="4", thinking="2 + 2 is 4"))
    system: Any = [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    answer = await client.messages.create(
        model="claude", max_tokens=2000, system=system, messages=HI, thinking=thinking
    )
    assert [b.type for b in answer.content] == ["thinking", "text"]

    document: Any = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
    }
    history: list[MessageParam] = [
        *HI,
        assistant(answer),
        {"role": "user", "content": [document, {"type": "text", "text": "and this?"}]},
    ]
    await client.messages.create(
        model="claude", max_tokens=2000, system=system, messages=history, thinking=thinking
    )

    sent = fake.requests[1].body
    assert sent["system"] == system
    assert sent["thinking"] == thinking
    assert sent["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "2 + 2 is 4",
        "signature": "sig-1",
    }
    assert sent["messages"][2]["content"][0] == document


async def test_a_budgeted_key(endpoint: Endpoint, fake: FakeAnthropic) -> None:
    client = endpoint.anthropic("sk-bob")
    fake.enqueue(FakeMessage(input_tokens=1000, output_tokens=100))  # $0.0045 > $0.001
    await client.messages.create(model="claude", max_tokens=10, messages=HI)

    with pytest.raises(anthropic.RateLimitError, match="spent its budget") as raised:
        await client.messages.create(model="claude", max_tokens=10, messages=HI)
    assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert raised.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(anthropic.PermissionDeniedError, match="may not use 'small'"):
        await client.messages.create(model="small", max_tokens=10, messages=HI)
    assert len(fake.requests) == 1


async def test_errors_in_anthropic_shape(endpoint: Endpoint, fake: FakeAnthropic) -> None:
    client = endpoint.anthropic()
    with pytest.raises(anthropic.NotFoundError, match="'nope' does not exist") as missing:
        await client.messages.create(model="nope", max_tokens=10, messages=HI)
    assert missing.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": missing.value.body["error"]["message"]},  # type: ignore[index]
        "request_id": missing.value.request_id,
    }
    assert missing.value.request_id is not None
    assert missing.value.request_id.startswith("msg_")

    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        await client.messages.create(
            model="claude", max_tokens=10, messages=HI, extra_body={"temperature": 1.5}
        )
    with pytest.raises(anthropic.AuthenticationError):
        await endpoint.anthropic("sk-wrong").messages.create(
            model="claude", max_tokens=10, messages=HI
        )

    fake.enqueue(FakeError(status=400, message="messages.0: bad block"))
    with pytest.raises(anthropic.BadRequestError, match="bad block"):
        await client.messages.create(model="claude", max_tokens=10, messages=HI)
    fake.enqueue(FakeError(status=429, type="rate_limit_error", headers={"retry-after": "7"}))
    with pytest.raises(anthropic.RateLimitError) as limited:
        await client.messages.create(model="claude", max_tokens=10, messages=HI)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.response.headers["x-should-retry"] == "true"
    server_tool: Any = {"type": "web_search_20250305", "name": "web_search"}
    with pytest.raises(anthropic.BadRequestError, match="web_search_20250305"):
        await client.messages.create(
            model="claude", max_tokens=10, messages=HI, tools=[server_tool]
        )


async def test_an_openai_compatible_upstream_behind_messages(
    endpoint: Endpoint, openai_upstream: FakeOpenAIServer
) -> None:
    client = endpoint.anthropic()
    call = FakeToolCall(id="call_1", name="fetch_po", arguments='{"po": "7"}')
    openai_upstream.enqueue(Completion(text="Checking.", tool_calls=[call], cached_tokens=4))

    answer = await client.messages.create(
        model="small",
        max_tokens=100,
        system="be brief",
        messages=HI,
        tools=[FETCH_PO],
        tool_choice={"type": "tool", "name": "fetch_po"},
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
    )

    assert [b.type for b in answer.content] == ["text", "tool_use"]
    assert answer.stop_reason == "tool_use"
    assert answer.usage.input_tokens == 6
    assert answer.usage.cache_read_input_tokens == 4
    sent = openai_upstream.requests[0].body
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert sent["tools"][0]["function"]["parameters"] == SCHEMA
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "fetch_po"}}
    assert sent["stop"] == ["END"]
    assert sent["user"] == "u-1"
    assert sent["max_tokens"] == 100

    openai_upstream.enqueue(Completion(text="streamed words here"))
    async with client.messages.stream(model="small", max_tokens=50, messages=HI) as stream:
        assert "".join([t async for t in stream.text_stream]) == "streamed words here"

    image: Any = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
    }
    await client.messages.create(
        model="small", max_tokens=10, messages=[{"role": "user", "content": [image]}]
    )
    assert openai_upstream.requests[-1].body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}
    ]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with pytest.raises(anthropic.BadRequestError, match="'thinking'"):
        await client.messages.create(model="small", max_tokens=10, messages=HI, thinking=thinking)
    by_url: Any = {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}
    with pytest.raises(anthropic.BadRequestError, match="'document' block with a 'url' source"):
        await client.messages.create(
            model="small", max_tokens=10, messages=[{"role": "user", "content": [by_url]}]
        )
    assert len(openai_upstream.requests) == 3


async def test_the_anthropic_provider_behind_chat_completions(
    endpoint: Endpoint, fake: FakeAnthropic
) -> None:
    client = endpoint.client()
    fake.enqueue(
        FakeMessage(text="4", thinking="2 + 2", input_tokens=10, cache_read=90, output_tokens=2)
    )
    answer = await client.chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
        stop=["END"],
    )
    assert answer.choices[0].message.content == "4"
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == 100
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 90
    assert answer.choices[0].message.model_extra == {
        "reasoning_content": "2 + 2",
        "thinking_blocks": [{"type": "thinking", "thinking": "2 + 2", "signature": "sig-1"}],
    }
    assert fake.requests[0].body["system"] == "be brief"
    assert fake.requests[0].body["stop_sequences"] == ["END"]

    fake.enqueue(FakeMessage(text="Let me look.", tool_uses=[("toolu_9", "fetch_po", {"po": "1"})]))
    tool: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {"name": "fetch_po", "parameters": SCHEMA},
    }
    stream = await client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "po 1?"}], tools=[tool], stream=True
    )
    chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "Let me look."
    calls = [call for d in deltas for call in d.tool_calls or ()]
    assert calls[0].id == "toolu_9"
    assert "".join(c.function.arguments or "" for c in calls if c.function) == '{"po":"1"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    with pytest.raises(Exception, match="'response_format'"):
        await client.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
        )


async def test_beta_header_goes_upstream_and_tokens_are_counted(
    endpoint: Endpoint, fake: FakeAnthropic
) -> None:
    client = endpoint.anthropic()
    fake.enqueue(FakeMessage(text="hi"))
    await client.messages.create(
        model="claude",
        max_tokens=10,
        messages=HI,
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    )
    assert fake.requests[-1].headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert "anthropic-beta" not in fake.requests[-1].body

    counted = await client.messages.count_tokens(
        model="claude", messages=[{"role": "user", "content": "hello there " * 50}]
    )
    assert 90 < counted.input_tokens < 200
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="nope", messages=HI)
    assert len(fake.requests) == 1  # counting calls no model
