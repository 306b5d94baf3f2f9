"""A fake Anthropic Messages API for tests: an in-process ASGI app, reached through
``httpx2.ASGITransport`` (no socket, no thread).

It records every request and answers ``POST /v1/messages`` from a queue of scripted
replies (a short text message when the queue is empty), whole or as Anthropic's
server-sent events, with the usage a real answer has (cache reads and writes apart from
``input_tokens``). It checks what the real API checks and the tests rely on: the
``x-api-key`` and ``anthropic-version`` headers, ``max_tokens``, that turns alternate and
begin with the user, that each ``tool_result`` answers a ``tool_use`` of the turn before,
that a tool the answer calls was offered, and ``stop_sequences``::

    fake = FakeAnthropic()
    fake.enqueue(FakeMessage(text="hi", cache_read=100))
    model = fake.model("claude-sonnet-4")
    answer = await model.complete([UserMessage(content="hello")], [])
    assert fake.requests[0].body["max_tokens"] == 4096
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson

from proctor.gateway import AnthropicModel

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class FakeMessage:
    """One answer: thinking, text, tool uses (id, name, input), and its usage."""

    text: str | None = "hello from claude"
    tool_uses: Sequence[tuple[str, str, dict[str, Any]]] = ()
    thinking: str | None = None
    input_tokens: int = 10
    output_tokens: int = 5
    cache_read: int = 0
    cache_creation: int = 0
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class FakeError:
    """An error answer in Anthropic's shape."""

    status: int
    type: str = "invalid_request_error"
    message: str = "bad request"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]


class FakeAnthropic:
    """The fake API; ``requests`` holds each request received, in order."""

    def __init__(self, *, key: str = "sk-ant-test") -> None:
        self.key = key
        self.requests: list[Recorded] = []
        self._replies: deque[FakeMessage | FakeError] = deque()

    def enqueue(self, *replies: FakeMessage | FakeError) -> None:
        self._replies.extend(replies)

    def transport(self) -> httpx2.ASGITransport:
        return httpx2.ASGITransport(app=self.app)

    def model(self, name: str = "claude-sonnet-4", **options: Any) -> AnthropicModel:
        """An ``AnthropicModel`` that talks to this fake."""
        return AnthropicModel(
            name,
            base_url="http://fake-anthropic",
            api_key=self.key,
            transport=self.transport(),
            **options,
        )

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            received = await receive()
            body += received.get("body", b"")
            if not received.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if scope["path"] != "/v1/messages" or scope["method"] != "POST":
            await _json(send, 404, _error("not_found_error", f"no route {scope['path']}"))
            return
        request = orjson.loads(body)
        self.requests.append(Recorded(headers, request))
        if headers.get("x-api-key") != self.key:
            await _json(send, 401, _error("authentication_error", "invalid x-api-key"))
            return
        problem = _problem(headers, request)
        if problem is not None:
            await _json(send, 400, _error("invalid_request_error", problem))
            return
        reply = self._replies.popleft() if self._replies else FakeMessage()
        if isinstance(reply, FakeError):
            await _json(send, reply.status, _error(reply.type, reply.message), reply.headers)
            return
        offered = {tool["name"] for tool in request.get("tools", ())}
        for _, name, _ in reply.tool_uses:
            if name not in offered:
                message = f"the fake was scripted to call {name!r}, which was not offered"
                await _json(send, 400, _error("invalid_request_error", message))
                return
        answer = _message(reply, request)
        if request.get("stream"):
            await _events(send, answer)
        else:
            await _json(send, 200, answer)


def _problem(headers: dict[str, str], request: dict[str, Any]) -> str | None:
    """What the real API would refuse in this request."""
    if headers.get("anthropic-version") != "2023-06-01":
        return "anthropic-version: header is required"
    if not isinstance(request.get("max_tokens"), int):
        return "max_tokens: Field required"
    turns = request.get("messages") or []
    if not turns or turns[0]["role"] != "user":
        return "messages: the first message must use the user role"
    offered_ids: set[str] = set()
    for index, turn in enumerate(turns):
        if index and turn["role"] == turns[index - 1]["role"]:
            return f"messages.{index}: roles must alternate between user and assistant"
        blocks = turn["content"] if isinstance(turn["content"], list) else []
        if turn["role"] == "user":
            for block in blocks:
                if block["type"] == "tool_result" and block["tool_use_id"] not in offered_ids:
                    return f"messages.{index}: unexpected tool_use_id {block['tool_use_id']!r}"
        offered_ids = {b["id"] for b in blocks if b["type"] == "tool_use"}
    return None


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _message(reply: FakeMessage, request: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.thinking is not None:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig-1"})
    stop_reason, stop_sequence, text = "end_turn", None, reply.text
    for sequence in request.get("stop_sequences", ()):
        if text is not None and sequence in text:
            text, stop_reason, stop_sequence = text.split(sequence)[0], "stop_sequence", sequence
    if text:
        content.append({"type": "text", "text": text})
    for call_id, name, arguments in reply.tool_uses:
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
        stop_reason = "tool_use"
    return {
        "id": f"msg_fake{len(content)}",
        "type": "message",
        "role": "assistant",
        "model": reply.model or request["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_read_input_tokens": reply.cache_read,
            "cache_creation_input_tokens": reply.cache_creation,
        },
    }


async def _json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


async def _events(send: Send, message: dict[str, Any]) -> None:
    """The message as Anthropic streams it: start, ping, each block, delta, stop."""
    head = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": head})

    async def event(kind: str, data: dict[str, Any]) -> None:
        chunk = b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    await event("message_start", {"type": "message_start", "message": start})
    await event("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        opened: dict[str, Any] = {"thinking": {"thinking": ""}, "text": {"text": ""}}.get(
            kind, {"input": {}}
        )
        await event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {**block, **opened},
            },
        )
        if kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]}]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            words = block["text"].split(" ")
            pieces = [w + " " for w in words[:-1]] + [words[-1]]
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        else:
            arguments = orjson.dumps(block["input"]).decode()
            half = len(arguments) // 2
            parts = [arguments[:half], arguments[half:]] if block["input"] else []
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
        for delta in deltas:
            await event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        await event("content_block_stop", {"type": "content_block_stop", "index": index})
    final = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    await event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": final,
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    await event("message_stop", {"type": "message_stop"})
    await send({"type": "http.response.body", "body": b""})
