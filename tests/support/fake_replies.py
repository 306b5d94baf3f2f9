"""Scripted replies of the fake OpenAI-compatible server (see ``fake_openai``).

Each ``Reply`` writes its own HTTP response: a completion (plain or streamed as
server-sent events), an API error, a raw body, or a stream cut short.
"""

from __future__ import annotations

import email.utils
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request the server received.

    ``headers`` has lower-case names; ``body`` is the parsed JSON (None if not JSON).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


class Reply(ABC):
    """A scripted answer to one chat-completions request."""

    # Seconds to wait before answering; lets tests trigger client timeouts.
    delay_s: float = 0.0

    @abstractmethod
    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        """Write the whole HTTP response (status, headers, body) to ``handler``."""


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Write a complete, non-streamed response; shared by replies and the server."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
) -> None:
    send(handler, status, json.dumps(payload).encode(), headers=headers)


@dataclass(frozen=True, kw_only=True)
class FakeToolCall:
    """A tool call in a completion; ``arguments`` is sent verbatim, valid JSON or not."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Completion(Reply):
    """A chat completion: text and/or tool calls, with usage.

    ``finish_reason`` defaults to ``tool_calls`` when there are calls, else ``stop``;
    ``model`` defaults to the requested one; ``empty_choices`` sends ``choices: []``.
    """

    text: str | None = "ok"
    tool_calls: Sequence[FakeToolCall] = ()
    finish_reason: str | None = None
    prompt_tokens: int = 10
    completion_tokens: int = 5
    cached_tokens: int = 0
    model: str | None = None
    empty_choices: bool = False
    delay_s: float = 0.0

    def payload(self, request: RecordedRequest) -> dict[str, Any]:
        """The response body as a dict (a streaming subclass can chunk it)."""
        requested = request.body.get("model") if isinstance(request.body, dict) else None
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{i}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for i, call in enumerate(self.tool_calls)
            ]
        finish = self.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        choices = (
            []
            if self.empty_choices
            else [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]
        )
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": self.model or requested or "fake-model",
            "choices": choices,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            },
        }

    def chunks(self, request: RecordedRequest) -> list[dict[str, Any]]:
        """The same completion as ``chat.completion.chunk`` objects, as a stream sends it."""
        full = self.payload(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**_header(full, "chat.completion.chunk"), "choices": [choice]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": word}) for word in re.findall(r"\S+\s*", self.text or "")]
        for i, call in enumerate(full["choices"][0]["message"].get("tool_calls", ())):
            start = {**call, "index": i, "function": {**call["function"], "arguments": ""}}
            chunks.append(chunk({"tool_calls": [start]}))
            arguments = {"index": i, "function": {"arguments": call["function"]["arguments"]}}
            chunks.append(chunk({"tool_calls": [arguments]}))
        chunks.append(chunk({}, full["choices"][0]["finish_reason"]))
        options = request.body.get("stream_options") or {}
        if options.get("include_usage"):
            chunks.append({**_header(full, "chat.completion.chunk"), "choices": [], **_usage(full)})
        return chunks

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        if not _streaming(request):
            send_json(handler, 200, self.payload(request))
            return
        start_stream(handler)
        for chunk in self.chunks(request):
            send_event(handler, json.dumps(chunk))
        send_event(handler, "[DONE]")
        end_stream(handler)


@dataclass(frozen=True, kw_only=True)
class TruncatedStream(Completion):
    """A streamed completion whose connection drops after ``after_chunks`` chunks.

    The cut falls inside an HTTP chunk, with no ``[DONE]``: what a crashed or
    restarted upstream looks like to a client. A non-streaming request gets the
    first half of the JSON body, then the connection closes.
    """

    after_chunks: int = 2

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        handler.close_connection = True
        if not _streaming(request):
            body = json.dumps(self.payload(request)).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            return
        start_stream(handler)
        chunks = self.chunks(request)
        for chunk in chunks[: self.after_chunks]:
            send_event(handler, json.dumps(chunk))
        # Announce a whole chunk, send half of it, hang up.
        partial = f"data: {json.dumps(chunks[min(self.after_chunks, len(chunks) - 1)])}\n\n"
        handler.wfile.write(f"{len(partial):x}\r\n{partial[: len(partial) // 2]}".encode())
        handler.wfile.flush()


@dataclass(frozen=True, kw_only=True)
class ErrorReply(Reply):
    """An API error in OpenAI's shape: ``{"error": {"message", "type", "code"}}``."""

    status: int
    message: str = "error"
    type: str = "invalid_request_error"
    code: str | None = None
    retry_after: float | None = None
    """``Retry-After`` in seconds."""
    retry_after_date: datetime | None = None
    """``Retry-After`` as an HTTP date (give an aware datetime)."""
    retry_after_ms: float | None = None
    """``retry-after-ms``, which OpenAI sends beside ``Retry-After``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        error = {"message": self.message, "type": self.type, "param": None, "code": self.code}
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        if self.retry_after_date is not None:
            headers["Retry-After"] = email.utils.format_datetime(self.retry_after_date, usegmt=True)
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{self.retry_after_ms:g}"
        send_json(handler, self.status, {"error": error}, headers=headers)


def context_length_error(window: int = 8192, requested: int = 9000) -> ErrorReply:
    """OpenAI's answer to a prompt longer than the model's context window."""
    return ErrorReply(
        status=400,
        code="context_length_exceeded",
        message=(
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {requested} tokens. Please reduce the length of the messages."
        ),
    )


@dataclass(frozen=True, kw_only=True)
class RawReply(Reply):
    """Any body, sent as is (e.g. invalid JSON labelled ``application/json``)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    delay_s: float = 0.0

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        send(handler, self.status, self.body, content_type=self.content_type)


def start_stream(handler: BaseHTTPRequestHandler) -> None:
    """Begin a server-sent-events response, sent with chunked transfer encoding."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()


def send_event(handler: BaseHTTPRequestHandler, data: str) -> None:
    """One ``data:`` event, as one HTTP chunk, flushed so the client sees it now."""
    event = f"data: {data}\n\n".encode()
    handler.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
    handler.wfile.flush()


def end_stream(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()


def _streaming(request: RecordedRequest) -> bool:
    return isinstance(request.body, dict) and request.body.get("stream") is True


def _header(payload: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": payload["id"],
        "object": kind,
        "created": payload["created"],
        "model": payload["model"],
    }


def _usage(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"usage": payload["usage"]}
