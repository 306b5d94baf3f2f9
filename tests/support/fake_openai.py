"""A small OpenAI-compatible HTTP server for tests, built on the standard library.

It listens on 127.0.0.1 with an ephemeral port, records every request, and answers
``POST /v1/chat/completions`` from a queue of scripted replies (a plain text completion
when the queue is empty)::

    with FakeOpenAIServer() as server:
        server.enqueue(ErrorReply(status=429, message="slow down", retry_after=2))
        model = OpenAIModel("fake-model", base_url=server.base_url, api_key="unused")
        ...
        assert server.requests[0].body["model"] == "fake-model"

A reply is any ``Reply``: it writes its own HTTP response, so new kinds (a streamed
completion, a stream cut short, a context-length error) are new subclasses, and the
server needs no change.
"""

from __future__ import annotations

import json
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

__all__ = [
    "Completion",
    "ErrorReply",
    "FakeOpenAIServer",
    "FakeToolCall",
    "RawReply",
    "RecordedRequest",
    "Reply",
]


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
            },
        }

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        send_json(handler, 200, self.payload(request))


@dataclass(frozen=True, kw_only=True)
class ErrorReply(Reply):
    """An API error in OpenAI's shape: ``{"error": {"message", "type", "code"}}``."""

    status: int
    message: str = "error"
    type: str = "invalid_request_error"
    code: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        error = {"message": self.message, "type": self.type, "param": None, "code": self.code}
        headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
        send_json(handler, self.status, {"error": error}, headers=headers)


@dataclass(frozen=True, kw_only=True)
class RawReply(Reply):
    """Any body, sent as is (e.g. invalid JSON labelled ``application/json``)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    delay_s: float = 0.0

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        send(handler, self.status, self.body, content_type=self.content_type)


@dataclass
class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1; use it as a context manager.

    ``requests`` holds every request received, in order; ``enqueue`` scripts the answers
    to chat completions; ``models`` is what ``GET /v1/models`` lists.
    """

    models: Sequence[str] = ("fake-model",)
    default: Reply = field(default_factory=Completion)
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    _replies: deque[Reply] = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Set on close so a delayed reply wakes up instead of outliving the test.
    _closing: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _httpd: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake OpenAI server is not running: use it in a with block")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The URL to give a client, ending in ``/v1`` like OpenAI's."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def bodies(self) -> list[Any]:
        """The parsed JSON bodies of the chat-completions requests, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._replies)

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next chat-completions requests with ``replies``, in order."""
        with self._lock:
            self._replies.extend(replies)

    def start(self) -> None:
        handler = type("_BoundHandler", (_Handler,), {"server_state": self})
        self._httpd = _HTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd, self._thread = None, None

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is what some tests do on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and the SDK's pool use
    timeout = 30  # an idle kept-alive connection must not hold its thread forever
    server_state: ClassVar[FakeOpenAIServer]

    def do_POST(self) -> None:
        request = self._record()
        if not self.path.endswith("/chat/completions"):
            self._not_found()
            return
        reply = self.server_state._next_reply()
        if reply.delay_s and self.server_state._closing.wait(reply.delay_s):
            self.close_connection = True
            return
        reply.write(self, request)

    def do_GET(self) -> None:
        self._record()
        if not self.path.endswith("/models"):
            self._not_found()
            return
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
            for m in self.server_state.models
        ]
        send_json(self, 200, {"object": "list", "data": data})

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.server_state._record(request)
        return request

    def _not_found(self) -> None:
        error = {"message": f"no route {self.command} {self.path}", "type": "not_found"}
        send_json(self, 404, {"error": error})
