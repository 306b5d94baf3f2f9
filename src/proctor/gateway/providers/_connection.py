"""One kept-alive HTTP/1.1 connection to an upstream, parsed by httptools (``openai_lean``'s).

``Exchange`` sends a request and hands back the answer: whole, or, for a streamed
request answered with ``text/event-stream``, as soon as the head is in, its events then
read one by one as they arrive (``event``). A reader slower than the server pauses the
socket: what it has not taken yet waits in the server, not in this process.
``EventSplitter`` cuts such a body into the ``data`` of its events, however the network
splits the bytes.
"""

from __future__ import annotations

import asyncio
from collections import deque

import httptools


class Stale(ConnectionError):
    """A kept-alive connection was closed by the server before it answered: retry once."""


class Exchange(asyncio.Protocol):
    """One HTTP/1.1 connection; answers one request at a time.

    A streamed answer (``streaming``) with a 2xx ``text/event-stream`` head resolves
    ``done`` as soon as the head is in; its events then gather in ``sse`` for ``event``.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.done: asyncio.Future[None] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.received = False
        self.keep_alive = False
        self.streaming = False
        self.sse: EventSplitter | None = None
        self.ended = False
        self.error: Exception | None = None
        self.wake: asyncio.Future[None] | None = None
        self.paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unreadable HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        error = Stale if not self.received else ConnectionError
        self._fail(error(f"the server closed the connection ({exc or 'EOF'})"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if not self.streaming or self.parser.get_status_code() >= 300:
            return
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            self.sse = EventSplitter()
            if self.done is not None and not self.done.done():
                self.done.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.sse is None:
            self.body.append(body)
            return
        self.sse.feed(body)
        if self.sse.events:
            self._wake()
            if len(self.sse.events) > _PAUSE_AT and not self.paused and self.transport:
                self.paused = True  # the reader is slow: let TCP push back on the server
                self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # reset once this returns
        self.ended = True
        if self.done is not None and not self.done.done():
            self.done.set_result(None)
        if self.sse is not None:
            self._wake()

    def _fail(self, exc: Exception) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc)
        elif self.sse is not None and not self.ended:
            self.error = exc
            self._wake()

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def _start(self, request: bytes, *, streaming: bool) -> asyncio.Future[None]:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.headers, self.body, self.received, self.keep_alive = {}, [], False, False
        self.streaming, self.sse, self.ended, self.error = streaming, None, False, None
        self.transport.write(request)
        return self.done

    async def send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        await self._start(request, streaming=False)
        return self.parser.get_status_code(), self.headers, b"".join(self.body)

    async def send_streaming(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status and head of a streamed request; the body too unless it is an event stream."""
        await self._start(request, streaming=True)
        return self.parser.get_status_code(), self.headers, b"".join(self.body)

    async def event(self, idle_s: float) -> bytes | None:
        """The next event's data; ``None`` once the answer is complete.

        Raises ``ConnectionError`` if the connection broke, ``TimeoutError`` after
        ``idle_s`` without an event.
        """
        assert self.sse is not None
        events = self.sse.events
        while not events:
            if self.error is not None:
                raise self.error
            if self.ended:
                return None
            loop = asyncio.get_running_loop()
            self.wake = wake = loop.create_future()
            # One timer per wait, not per event: chunks mostly arrive in bursts.
            timer = loop.call_later(idle_s, _expire, wake)
            try:
                await wake
            finally:
                timer.cancel()
                self.wake = None
        if self.paused and len(events) <= _RESUME_AT and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return events.popleft()

    @property
    def reusable(self) -> bool:
        transport = self.transport
        return (
            transport is not None
            and not transport.is_closing()
            and self.keep_alive
            and not (self.paused)
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# Events a stream may buffer before reading from its socket pauses.
_PAUSE_AT, _RESUME_AT = 256, 64


def _expire(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_exception(TimeoutError())


class EventSplitter:
    """The ``data`` of each complete event, in order (``events``); partial lines wait.

    Only what OpenAI-compatible servers send is kept: ``data:`` lines (several in one
    event are joined by a newline, as the SSE spec says); comments, ``event:``, ``id:``
    and ``retry:`` fields are skipped.
    """

    __slots__ = ("_data", "_partial", "events")

    def __init__(self) -> None:
        self.events: deque[bytes] = deque()
        self._partial = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if self._partial:
            chunk = self._partial + chunk
        lines = chunk.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    self.events.append(b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
