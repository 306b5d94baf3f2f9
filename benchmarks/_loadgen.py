"""Loopback tools for the gateway benchmarks: a minimal upstream, a raw load generator, and
helpers to start servers (a free port, waiting for one to listen) and read percentiles.

The upstream and the load generator speak just enough HTTP/1.1 (keep-alive,
Content-Length) to cost next to nothing, so the figures are the gateway's, not the tools'.
A request with ``"stream":true`` gets a canned stream (``STREAM_CHUNKS`` text chunks, the
finish, usage, ``[DONE]``) in one write.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Callable, Mapping
from typing import cast

import orjson

_ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
)
STREAM_CHUNKS = 20


def _event(payload: object) -> bytes:
    data = b"data: " + (payload if isinstance(payload, bytes) else orjson.dumps(payload)) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0}
    return {**head, "model": "gpt-4o-mini", "choices": [choice]}


_STREAM = b"".join(
    [
        _event(_chunk({"role": "assistant", "content": ""})),
        *(_event(_chunk({"content": f"word{i} "})) for i in range(STREAM_CHUNKS)),
        _event(_chunk({}, "stop")),
        _event(
            {
                **_chunk({}),
                "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
            }
        ),
        _event(b"[DONE]"),
        b"0\r\n\r\n",
    ]
)
_STREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    + _STREAM
)
_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(_ANSWER),
    _ANSWER,
)


class _Upstream(asyncio.Protocol):
    """Answers every request with the same chat completion."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = _content_length(self.buffer[:end])
            if len(self.buffer) < end + 4 + length:
                return
            streamed = b'"stream":true' in self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(_STREAM_RESPONSE if streamed else _RESPONSE)


def _content_length(head: bytes) -> int:
    start = head.lower().find(b"content-length:")
    if start < 0:
        return 0
    stop = head.find(b"\r\n", start)
    return int(head[start + 15 : stop if stop >= 0 else None])


def serve_upstream(port: int) -> None:
    """Run the upstream on 127.0.0.1:``port`` until terminated (a process target)."""
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


def load(
    port: int,
    path: str,
    key: str,
    seconds: float,
    connections: int,
    *,
    same: bool,
    headers: Mapping[str, str] | None = None,
) -> tuple[float, float]:
    """Requests per second and p50 latency (ms) of ``connections`` keep-alive clients;
    ``headers`` are sent with every request besides the key."""
    import uvloop

    return uvloop.run(_load(port, path, key, seconds, connections, same, headers or {}))


async def _load(
    port: int,
    path: str,
    key: str,
    seconds: float,
    connections: int,
    same: bool,
    headers: Mapping[str, str],
) -> tuple[float, float]:
    extra = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items())
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**12))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                text = "hello" if same else f"hello from the load {next(counter)}"
                body = orjson.dumps(
                    {"model": "small", "messages": [{"role": "user", "content": text}]}
                )
                started = time.perf_counter()
                writer.write(
                    b"POST %s HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer %s\r\n%s"
                    b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (path.encode(), key.encode(), extra, len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"the server answered {head[:40]!r}")
                await reader.readexactly(_content_length(head))
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(port: int, alive: Callable[[], bool]) -> None:
    """Return once something listens on ``port``; raise if ``alive()`` turns false first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server on port {port} died at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
