"""``LeanOpenAIModel`` behaves as ``OpenAIModel`` does, without the SDK.

Each scripted upstream reply goes to both clients; the answers, or the error kinds,
statuses, waits and messages, must be the same, because the router acts on them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import cast

import pytest

from proctor.gateway import ModelResponse, OpenAIModel, ToolSpec, UserMessage
from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import CallSettings, ModelClient, ModelDelta, StreamingModelClient
from proctor.gateway.providers.openai_lean import LeanOpenAIModel
from proctor.store import Usage
from support.fake_openai import (
    Completion,
    ErrorReply,
    FakeOpenAIServer,
    FakeToolCall,
    RawReply,
    RecordedRequest,
    Reply,
    TruncatedStream,
    context_length_error,
)
from support.stream_replies import HeldStream, ScriptedChunks, call_arguments, call_start, text

HI = [UserMessage(content="hi")]
FETCH = ToolSpec(name="erp.fetch_po", description="Fetch a PO.", parameters={"type": "object"})
Factory = Callable[[str], ModelClient]
CLIENTS: dict[str, Factory] = {
    "sdk": lambda url: OpenAIModel("m", base_url=url, api_key="k", timeout_s=5),
    "lean": lambda url: LeanOpenAIModel("m", base_url=url, api_key="k", timeout_s=5),
}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


async def both(server: FakeOpenAIServer, reply: Reply) -> dict[str, ModelResponse | Exception]:
    """What each client makes of ``reply`` (sent to each in turn)."""
    outcomes: dict[str, ModelResponse | Exception] = {}
    for name, factory in CLIENTS.items():
        server.enqueue(reply)
        client = factory(server.base_url)
        try:
            outcomes[name] = await client.complete(HI, [FETCH])
        except ModelCallError as exc:
            outcomes[name] = exc
        finally:
            await cast(OpenAIModel | LeanOpenAIModel, client).aclose()
    return outcomes


@pytest.mark.parametrize(
    "reply",
    [
        Completion(text="hello", prompt_tokens=7, completion_tokens=2),
        Completion(text=None, tool_calls=[FakeToolCall(name="erp__fetch_po", id="c1")]),
        Completion(tool_calls=[FakeToolCall(name="erp__fetch_po", arguments="{not json")]),
        Completion(text="cut", finish_reason="length"),
    ],
    ids=["text", "tool-call", "bad-arguments", "length"],
)
async def test_answers_are_the_same(server: FakeOpenAIServer, reply: Reply) -> None:
    outcomes = await both(server, reply)
    assert isinstance(outcomes["lean"], ModelResponse), outcomes["lean"]
    assert outcomes["lean"] == outcomes["sdk"]
    sdk_body, lean_body = server.bodies
    assert lean_body == sdk_body


@pytest.mark.parametrize(
    "reply",
    [
        ErrorReply(status=429, message="slow down", retry_after=3),
        ErrorReply(status=429, message="later", retry_after_ms=250),
        ErrorReply(status=500, message="boom"),
        ErrorReply(status=401, message="bad key"),
        ErrorReply(status=404, message="no such model"),
        ErrorReply(status=400, message="bad"),
        context_length_error(),
        RawReply(body=b"not json"),
        Completion(empty_choices=True),
    ],
    ids=["429", "429-ms", "500", "401", "404", "400", "context", "not-json", "no-choices"],
)
async def test_errors_are_the_same(server: FakeOpenAIServer, reply: Reply) -> None:
    outcomes = await both(server, reply)
    sdk, lean = outcomes["sdk"], outcomes["lean"]
    assert isinstance(sdk, ModelCallError)
    assert isinstance(lean, ModelCallError)
    assert (lean.kind, lean.status, lean.retry_after_s) == (sdk.kind, sdk.status, sdk.retry_after_s)
    if sdk.status is not None:
        assert str(lean) == str(sdk)


async def test_transport_failures_are_retryable_kinds(server: FakeOpenAIServer) -> None:
    outcomes = await both(server, TruncatedStream(text="a long answer cut short"))
    assert [getattr(o, "kind", None) for o in outcomes.values()] == ["connection", "connection"]
    server.enqueue(Completion(delay_s=2))
    lean = LeanOpenAIModel("m", base_url=server.base_url, api_key="k")
    with pytest.raises(ModelCallError) as slow:
        await lean.complete(HI, [], settings=CallSettings(timeout_s=0.2))
    assert slow.value.kind == "timeout"
    await lean.aclose()
    closed = LeanOpenAIModel("m", base_url="http://127.0.0.1:9/v1", api_key="k")
    with pytest.raises(ModelCallError) as refused:
        await closed.complete(HI, [])
    assert refused.value.kind == "connection"
    assert "cannot connect" in str(refused.value)


@pytest.fixture
async def forgetful() -> AsyncIterator[tuple[str, list[int]]]:
    """A server that answers the first request of a connection and drops the connection
    when a second one arrives: what a server closing idle kept-alive connections does."""
    answer = (
        b'{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},'
        b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}'
    )
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()
        await reader.read(1)  # the next request arrives: hang up without answering
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/v1", connections


async def test_a_connection_dropped_while_idle_is_replaced(
    forgetful: tuple[str, list[int]],
) -> None:
    url, connections = forgetful
    lean = LeanOpenAIModel("m", base_url=url, api_key="k")
    try:
        for _ in range(3):
            assert (await lean.complete(HI, [])).text == "ok"
    finally:
        await lean.aclose()
    assert len(connections) == 3


# Streams ----------------------------------------------------------------------------------

Streamed = tuple[list[ModelDelta], ModelCallError | None]


async def stream_of(client: ModelClient, timeout_s: float | None = None) -> Streamed:
    assert isinstance(client, StreamingModelClient)
    deltas: list[ModelDelta] = []
    try:
        async for delta in client.stream(HI, [FETCH], settings=CallSettings(timeout_s=timeout_s)):
            deltas.append(delta)
    except ModelCallError as exc:
        return deltas, exc
    return deltas, None


async def both_streams(server: FakeOpenAIServer, reply: Reply) -> dict[str, Streamed]:
    """What each client streams of ``reply`` (sent to each in turn)."""
    outcomes: dict[str, Streamed] = {}
    for name, factory in CLIENTS.items():
        server.enqueue(reply)
        client = factory(server.base_url)
        try:
            outcomes[name] = await stream_of(client)
        finally:
            await cast(OpenAIModel | LeanOpenAIModel, client).aclose()
    return outcomes


@pytest.mark.parametrize(
    "reply",
    [
        Completion(text="hello there, world", prompt_tokens=7, completion_tokens=3),
        Completion(text=None, tool_calls=[FakeToolCall(name="erp__fetch_po", id="c1")]),
        ScriptedChunks(
            deltas=[
                call_start(0, "c1", "erp__fetch_po"),
                call_arguments(0, '{"po": '),
                call_arguments(0, '"P1"}'),
            ],
            finish="tool_calls",
        ),
        ScriptedChunks(deltas=[text("no usage")], usage=False),
    ],
    ids=["text", "tool-call", "split-arguments", "no-usage"],
)
async def test_streams_are_the_same(server: FakeOpenAIServer, reply: Reply) -> None:
    outcomes = await both_streams(server, reply)
    lean, sdk = outcomes["lean"], outcomes["sdk"]
    assert lean[1] is None, lean[1]
    assert lean == sdk
    assert len(lean[0]) > 2  # chunks, not one answer
    sdk_body, lean_body = server.bodies
    assert lean_body == sdk_body
    assert (lean_body["stream"], lean_body["stream_options"]) == (True, {"include_usage": True})


async def test_streamed_deltas_map_tool_names_back(server: FakeOpenAIServer) -> None:
    outcomes = await both_streams(
        server, Completion(text=None, tool_calls=[FakeToolCall(name="erp__fetch_po")])
    )
    names = [c.name for d in outcomes["lean"][0] for c in d.tool_calls if c.name]
    assert names == ["erp.fetch_po"]
    usage = [d.usage for d in outcomes["lean"][0] if d.usage]
    assert usage == [Usage(input_tokens=10, output_tokens=5)]


@pytest.mark.parametrize(
    "reply",
    [
        ErrorReply(status=429, message="slow down", retry_after=3),
        ErrorReply(status=500, message="boom"),
        ErrorReply(status=401, message="bad key"),
        context_length_error(),
    ],
    ids=["429", "500", "401", "context"],
)
async def test_stream_errors_before_the_first_chunk_are_completes(
    server: FakeOpenAIServer, reply: Reply
) -> None:
    streamed = await both_streams(server, reply)
    completed = await both(server, reply)
    for name in CLIENTS:
        deltas, error = streamed[name]
        whole = completed[name]
        assert deltas == []
        assert isinstance(error, ModelCallError)
        assert isinstance(whole, ModelCallError)
        assert (error.kind, error.status, error.retry_after_s, str(error)) == (
            whole.kind,
            whole.status,
            whole.retry_after_s,
            str(whole),
        )


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (TruncatedStream(text="one two three", after_chunks=2), "connection"),
        (
            RawReply(
                body=b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
                b"data: {not json\n\n",
                content_type="text/event-stream",
            ),
            "invalid_response",
        ),
        (
            RawReply(
                body=b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
                b'data: {"error":{"message":"overloaded"}}\n\n',
                content_type="text/event-stream",
            ),
            "invalid_response",
        ),
    ],
    ids=["cut", "not-json", "error-event"],
)
async def test_a_stream_breaking_after_chunks_raises_after_them(
    server: FakeOpenAIServer, reply: Reply, kind: str
) -> None:
    outcomes = await both_streams(server, reply)
    for deltas, error in outcomes.values():
        assert deltas, "the chunks before the break come through"
        assert isinstance(error, ModelCallError)
        assert error.kind == kind


async def test_a_stream_read_to_the_end_keeps_its_connection(server: FakeOpenAIServer) -> None:
    lean = LeanOpenAIModel("m", base_url=server.base_url, api_key="k")
    try:
        deltas, error = await stream_of(lean)
        assert error is None
        assert deltas[-1].usage is not None
        assert len(lean._idle) == 1
        server.enqueue(HeldStream(text="one two three", before=2, hold_s=2))
        partial = lean.stream(HI, [])
        await anext(partial)
        await partial.aclose()  # abandoned mid-answer: the connection cannot be reused
        assert lean._idle == []
        assert (await lean.complete(HI, [])).text == "ok"
    finally:
        await lean.aclose()


async def test_a_server_answering_a_stream_whole_is_streamed(server: FakeOpenAIServer) -> None:
    server.enqueue(RawReply(body=json.dumps(Completion(text="whole").payload(_request())).encode()))
    lean = LeanOpenAIModel("m", base_url=server.base_url, api_key="k")
    try:
        deltas, error = await stream_of(lean)
    finally:
        await lean.aclose()
    assert error is None
    assert [d.text for d in deltas if d.text] == ["whole"]
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]


async def test_a_stalled_stream_times_out(server: FakeOpenAIServer) -> None:
    held = HeldStream(text="one two", before=2, hold_s=5)
    server.enqueue(held)
    lean = LeanOpenAIModel("m", base_url=server.base_url, api_key="k")
    try:
        async with asyncio.timeout(3):
            deltas, error = await stream_of(lean, timeout_s=0.2)
    finally:
        held.release.set()
        await lean.aclose()
    assert [d.text for d in deltas] == ["", "one "]
    assert isinstance(error, ModelCallError)
    assert error.kind == "timeout"
    assert "sent nothing more for 0.2s" in str(error)


def _request() -> RecordedRequest:
    return RecordedRequest(method="POST", path="/v1/chat/completions", headers={}, body={})
