"""The fake OpenAI-compatible upstream itself: listing, streaming, and streams cut short.

Streaming is read with the raw ``openai`` client, as the gateway's HTTP endpoint will.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from support.fake_openai import Completion, FakeOpenAIServer, FakeToolCall, TruncatedStream

HELLO: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    try:
        yield sdk
    finally:
        await sdk.close()


def test_fake_server_lists_models(server: FakeOpenAIServer) -> None:
    with urllib.request.urlopen(f"{server.base_url}/models") as answer:
        listed = json.load(answer)
    assert [m["id"] for m in listed["data"]] == ["fake-model"]


async def test_a_streamed_completion(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.enqueue(
        Completion(
            text="hello there",
            tool_calls=[FakeToolCall(id="c1", name="lookup", arguments='{"q": 1}')],
            prompt_tokens=4,
            completion_tokens=2,
        )
    )

    stream = await client.chat.completions.create(
        model="m", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    assert deltas[0].role == "assistant"
    assert "".join(d.content or "" for d in deltas) == "hello there"
    calls = [call for d in deltas for call in d.tool_calls or ()]
    assert calls[0].id == "c1"
    assert calls[0].function is not None
    assert calls[0].function.name == "lookup"
    arguments = "".join(c.function.arguments or "" for c in calls if c.function)
    assert json.loads(arguments) == {"q": 1}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert finishes[:-1] == [None] * (len(finishes) - 1)
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 2)
    assert server.bodies[0]["stream"] is True


async def test_usage_is_streamed_only_when_asked(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


async def test_a_truncated_stream_fails_the_reader(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.enqueue(TruncatedStream(text="one two three four", after_chunks=2), Completion(text="x"))

    stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIConnectionError):
        await read()

    assert seen == ["", "one "]  # the role chunk, one word, then the cut
    # The server is still healthy for the next request.
    again = await client.chat.completions.create(model="m", messages=HELLO)
    assert again.choices[0].message.content == "x"
