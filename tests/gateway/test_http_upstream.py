"""``LeanOpenAIModel`` behaves as ``OpenAIModel`` does, without the SDK.

Each scripted upstream reply goes to both clients; the answers, or the error kinds,
statuses, waits and messages, must be the same, because the router acts on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import cast

import pytest

from proctor.gateway import ModelResponse, OpenAIModel, ToolSpec, UserMessage
from proctor.gateway._errors import ModelCallError
from proctor.gateway._http_upstream import LeanOpenAIModel
from proctor.gateway._types import CallSettings, ModelClient
from support.fake_openai import (
    Completion,
    ErrorReply,
    FakeOpenAIServer,
    FakeToolCall,
    RawReply,
    Reply,
    TruncatedStream,
    context_length_error,
)

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
