"""A small OpenAI-compatible HTTP server for tests, built on the standard library.

It listens on 127.0.0.1 with an ephemeral port, records every request, and answers
``POST /v1/chat/completions`` from a queue of scripted replies (a plain text completion
when the queue is empty)::

    with FakeOpenAIServer() as server:
        server.enqueue(ErrorReply(status=429, message="slow down", retry_after=2))
        server.enqueue(context_length_error(), TruncatedStream(text="cut short"))
        model = OpenAIModel("fake-model", base_url=server.base_url, api_key="unused")
        ...
        assert server.requests[0].body["model"] == "fake-model"

A reply is any ``Reply``: it writes its own HTTP response, so new kinds are new
subclasses, and the server needs no change. A ``Completion`` answers a ``stream: true``
request as server-sent events (``chat.completion.chunk`` objects, then ``data: [DONE]``);
``TruncatedStream`` drops the connection part-way through such a stream.
``POST /v1/embeddings`` is answered from a queue of its own (``enqueue_embeddings``),
by default an ``Embedding`` of the request's inputs.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

from support.fake_embeddings import Embedding
from support.fake_replies import (
    Completion,
    ErrorReply,
    FakeToolCall,
    RawReply,
    RecordedRequest,
    Reply,
    TruncatedStream,
    context_length_error,
    send_json,
)

__all__ = [
    "Completion",
    "Embedding",
    "ErrorReply",
    "FakeOpenAIServer",
    "FakeToolCall",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "TruncatedStream",
    "context_length_error",
]


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
    _embedding_replies: deque[Reply] = field(default_factory=deque, init=False, repr=False)
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
    def embedding_bodies(self) -> list[Any]:
        """The parsed JSON bodies of the embeddings requests, in order."""
        return [r.body for r in self.requests if r.path.endswith("/embeddings")]

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._replies)

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next chat-completions requests with ``replies``, in order."""
        with self._lock:
            self._replies.extend(replies)

    def enqueue_embeddings(self, *replies: Reply) -> None:
        """Answer the next embeddings requests with ``replies``, in order."""
        with self._lock:
            self._embedding_replies.extend(replies)

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

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            if path.endswith("/embeddings"):
                queue: deque[Reply] = self._embedding_replies
                return queue.popleft() if queue else Embedding()
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
        if not self.path.endswith(("/chat/completions", "/embeddings")):
            self._not_found()
            return
        reply = self.server_state._next_reply(self.path)
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
