"""Anthropic's Messages API as a ``WireApi`` (``POST /v1/messages``), so Anthropic's SDKs
and the coding agents built on them can use the gateway.

Answers are ``message`` objects; streams are Anthropic's server-sent events
(``message_start``, ``content_block_start``/``delta``/``stop``, ``message_delta``,
``message_stop``), cut from the gateway's deltas whichever upstream produced them;
failures are Anthropic's error shape with the endpoint's status codes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import orjson
from starlette.responses import Response

from proctor.endpoint._api import Parsed
from proctor.endpoint._errors import JSON, ApiError
from proctor.endpoint._messages_wire import (
    message,
    parse_messages,
    settings,
    stop_of,
    to_messages,
    to_tools,
    usage_of,
)
from proctor.endpoint._wire import WireError
from proctor.gateway import GatewayResult, ModelDelta, ToolCallDelta, estimate_tokens
from proctor.gateway.providers._dialect import BETA_FIELD

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
"""Anthropic's error ``type`` by status; any other 5xx is ``api_error``."""


def error_body(failure: ApiError, request_id: str | None) -> dict[str, object]:
    kind = ERROR_TYPES.get(failure.status, "api_error" if failure.status >= 500 else "")
    body: dict[str, object] = {
        "type": "error",
        "error": {"type": kind or "invalid_request_error", "message": failure.message},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


class Messages:
    """``message`` objects, Anthropic's stream events, Anthropic's errors."""

    id_prefix = "msg_"
    forwarded_headers: tuple[str, ...] = (BETA_FIELD,)
    """Anthropic's clients name beta features in a header: sent on to Anthropic upstreams
    (through ``CallSettings.extra``), dropped for the others."""

    def parse(self, body: bytes) -> Parsed:
        request = parse_messages(body)
        return Parsed(
            route=request.model,
            messages=to_messages(request),
            tools=to_tools(request),
            settings=settings(request),
            stream=bool(request.stream),
        )

    def answer(self, result: GatewayResult, parsed: Parsed, answer_id: str) -> bytes:
        return message(result.response, answer_id)

    def stream(self, parsed: Parsed, answer_id: str, model: str) -> MessageEvents:
        return MessageEvents(answer_id, model)

    def error(self, failure: ApiError, request_id: str | None) -> Response:
        headers = {**failure.headers, "x-should-retry": "true" if failure.retryable else "false"}
        if request_id is not None:
            headers["request-id"] = headers["x-request-id"] = request_id
        if failure.retry_after_s is not None:
            headers["retry-after"] = str(max(1, math.ceil(failure.retry_after_s)))
        body = orjson.dumps(error_body(failure, request_id))
        return Response(body, failure.status, headers, media_type=JSON)


def _event(kind: bytes, data: Mapping[str, object]) -> bytes:
    return b"event: " + kind + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageEvents:
    """One streamed answer as Anthropic's events: a block is opened when its first piece
    arrives and closed when another begins; usage and the stop reason come at the end."""

    __slots__ = ("_blocks", "_calls", "_id", "_model", "_open", "_started")

    def __init__(self, message_id: str, model: str) -> None:
        self._id = message_id
        self._model = model
        self._started = False
        self._blocks = 0  # blocks opened so far
        self._open: int | None = None  # the open block's index
        self._calls: dict[int, int] = {}  # tool call index -> its block's index

    def delta(self, delta: ModelDelta) -> bytes | None:
        out = b""
        if not self._started:
            self._started = True
            out = _event(b"message_start", {"type": "message_start", "message": self._head()})
        if delta.text:
            if self._open is None or self._open in self._calls.values():
                out += self._start({"type": "text", "text": ""})
            out += self._delta(self._blocks - 1, {"type": "text_delta", "text": delta.text})
        for call in delta.tool_calls:
            out += self._tool(call)
        return out or None

    def _head(self) -> dict[str, object]:
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }

    def _tool(self, call: ToolCallDelta) -> bytes:
        out = b""
        block = self._calls.get(call.index)
        if block is None:
            out += self._start(
                {"type": "tool_use", "id": call.id or "", "name": call.name or "", "input": {}}
            )
            block = self._calls[call.index] = self._blocks - 1
        if call.arguments:
            out += self._delta(block, {"type": "input_json_delta", "partial_json": call.arguments})
        return out

    def _start(self, block: dict[str, object]) -> bytes:
        out = self._stop()
        self._open = index = self._blocks
        self._blocks += 1
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return out + _event(b"content_block_start", start)

    def _delta(self, index: int, delta: dict[str, object]) -> bytes:
        return _event(
            b"content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )

    def _stop(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open, None
        return _event(b"content_block_stop", {"type": "content_block_stop", "index": index})

    def finish(self, result: GatewayResult) -> bytes:
        response = result.response
        stop_reason, stop_sequence = stop_of(response)
        final = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage_of(response.usage),
        }
        return (
            self._stop()
            + _event(b"message_delta", final)
            + _event(b"message_stop", {"type": "message_stop"})
        )

    def failed(self, failure: ApiError) -> bytes:
        return _event(b"error", error_body(failure, None))


def count_tokens(body: bytes) -> bytes:
    """``POST /v1/messages/count_tokens``: the request's input tokens, estimated.

    The count is the gateway's own estimate (the tokenizer its budgets use): Claude's
    tokenizer is not public, so an Anthropic upstream may count some percent otherwise.
    ``max_tokens`` may be left out, as Anthropic's endpoint allows.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WireError("invalid request body: not JSON") from None
    if isinstance(value, dict):
        value.setdefault("max_tokens", 1)
    request = parse_messages(orjson.dumps(value))
    tokens = estimate_tokens(to_messages(request), to_tools(request))
    return orjson.dumps({"input_tokens": tokens})
