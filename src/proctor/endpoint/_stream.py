"""Streamed answers at the endpoint: deltas out as ``chat.completion.chunk`` server-sent events.

Every chunk carries the gateway's completion id and model, whichever deployment (or the
cache) produced it. The usage chunk goes out only when the caller asked for it
(``stream_options.include_usage``); upstreams are always asked for theirs. A stream that
breaks off after its first chunk ends with an event in OpenAI's error shape, without
``[DONE]``, which the ``openai`` clients raise as ``APIError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from proctor.endpoint._wire import usage_wire
from proctor.gateway import ModelDelta, ToolCallDelta
from proctor.store import Usage

DONE = b"data: [DONE]\n\n"


class ChunkWriter:
    """Serialises one answer's deltas as server-sent events, each a ``data:`` line."""

    __slots__ = ("_choice_head", "_first", "_head", "_usage_head")

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._head: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        head = orjson.dumps(self._head)
        # The head is the same in every chunk: serialised once, the choice spliced in.
        self._choice_head = b"data: " + head[:-1] + b',"choices":['
        self._usage_head = b"data: " + head[:-1] + b',"choices":[],"usage":'
        self._first = True

    def delta(self, delta: ModelDelta) -> bytes | None:
        """The event of one delta; ``None`` when it carries nothing the caller would see."""
        wire: dict[str, Any] = {}
        if self._first:
            self._first = False
            wire["role"] = "assistant"
        elif delta.text is None and not delta.tool_calls and delta.finish_reason is None:
            return None  # e.g. the upstream's usage chunk: sent at the end, if asked for
        if delta.text is not None:
            wire["content"] = delta.text
        if delta.tool_calls:
            wire["tool_calls"] = [_wire_call(call) for call in delta.tool_calls]
        choice: dict[str, Any] = {
            "index": 0,
            "delta": wire,
            "finish_reason": delta.finish_reason,
            "logprobs": None,
        }
        extra = delta.extra
        if extra is None:
            return self._choice_head + orjson.dumps(choice) + b"]}\n\n"
        # What the upstream sent beyond the fields read, where it was (rare: built whole).
        for key, value in extra.get("delta", {}).items():
            wire.setdefault(key, value)
        choice.update(extra.get("choice", {}))
        whole = {**self._head, **extra.get("chunk", {}), "choices": [choice]}
        return b"data: " + orjson.dumps(whole) + b"\n\n"

    def usage(self, usage: Usage) -> bytes:
        return self._usage_head + orjson.dumps(usage_wire(usage)) + b"}\n\n"


def _wire_call(call: ToolCallDelta) -> dict[str, Any]:
    wire: dict[str, Any] = {"index": call.index}
    if call.id is not None:
        wire["id"], wire["type"] = call.id, "function"
    function: dict[str, str] = {}
    if call.name is not None:
        function["name"] = call.name
    function["arguments"] = call.arguments
    wire["function"] = function
    return wire


def error_event(body: bytes) -> bytes:
    """An error (OpenAI's shape, from ``_wire.error``) as the stream's last event."""
    return b"data: " + body + b"\n\n"


class StreamReply(StreamingResponse):
    """A ``StreamingResponse`` that runs ``on_close`` however the stream ended.

    Starlette cancels the body when the client disconnects and leaves the iterator as
    it was; ``on_close`` (closing the upstream, the ledger row) runs after that, shielded,
    so it is never cut short by the same cancellation.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        headers: Mapping[str, str],
        on_close: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(content, 200, headers, media_type="text/event-stream")
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._on_close()
