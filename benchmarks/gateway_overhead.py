"""What the OpenAI-compatible endpoint adds to a call, and how many calls one worker serves.

Three processes on loopback: a minimal upstream (a canned chat completion, no framework),
one ``proctor gateway serve`` worker in front of it, and this driver.

(a) vs (b): N sequential requests with one httpx client, alternating between the upstream
directly and the endpoint: p50/p99 of each, of the difference, and of the endpoint's own
``x-proctor-overhead-ms`` header. (c): requests per second of the worker under 32
concurrent keep-alive connections for a few seconds, from a raw-socket load generator
(httpx itself costs ~1 ms of CPU a request here, more than the endpoint). Prompts differ
per request, so every call is a cache miss and a cache write, unless the configuration
says otherwise. Several configurations run one after another in this one process.

(d), with the default configuration: the same pairs streamed (``stream: true``, a canned
upstream stream of 20 text chunks): time to the first chunk and to the end of the stream,
directly and through the endpoint, and the endpoint's header (its time to the first
chunk minus the time awaiting the upstream).

    python benchmarks/gateway_overhead.py [--requests 2000] [--seconds 5] [--only NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _loadgen import STREAM_CHUNKS, free_port, load, pct, serve_upstream, wait_for

KEY = "sk-bench"


@dataclass(frozen=True)
class Setup:
    name: str
    cache: str = "store"
    flush_after_s: float = 0.005
    loop: str = "uvloop"
    http: str = "httptools"
    same_prompt: bool = False
    sdk: bool = False
    streams: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


SETUPS = [
    Setup("default (cache: store, every call a miss)", streams=True),
    Setup("cache: none", cache="none"),
    Setup("ledger: one commit per call", flush_after_s=0.0),
    Setup("asyncio loop + h11", loop="asyncio", http="h11"),
    Setup("cache hits (same prompt)", same_prompt=True),
    Setup("upstream via the openai SDK (OpenAIModel)", sdk=True),
]


def run_endpoint(setup: Setup, port: int, upstream_port: int, db: str) -> None:
    """The worker process: one ``serve_gateway``, as ``proctor gateway serve`` runs it."""
    import logging

    from proctor.endpoint import serve_gateway
    from proctor.gateway import GatewayConfig
    from proctor.store import SQLiteStore

    os.environ["OPENAI_API_KEY"] = "upstream"
    os.environ["BENCH_KEY"] = KEY
    logging.disable(logging.WARNING)
    config = GatewayConfig.model_validate(
        {
            "models": {
                "small": {
                    "model": "gpt-4o-mini",
                    "base_url": f"http://127.0.0.1:{upstream_port}/v1",
                    "rpm": 10_000_000,
                }
            },
            "cache": {"backend": setup.cache},
            "keys": [{"name": "bench", "key_env": "BENCH_KEY", "budget_usd": 1e9, "rpm": 10**9}],
            **setup.extra,
        }
    )

    async def main() -> None:
        store = SQLiteStore(db)
        await serve_gateway(
            config,
            store,
            port=port,
            ledger_flush_s=setup.flush_after_s,
            http=setup.http,
            clients={} if setup.sdk else None,
        )
        await store.close()

    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if setup.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


def body(i: int, same: bool, *, stream: bool = False) -> bytes:
    text = "hello" if same else f"hello {i}"
    request: dict[str, Any] = {"model": "small", "messages": [{"role": "user", "content": text}]}
    if stream:  # other prompts than the unstreamed calls': those are cached by now
        request["stream"] = True
        request["messages"][0]["content"] = f"stream {i}"
    return orjson.dumps(request)


async def latency(setup: Setup, upstream: int, endpoint: int, n: int) -> dict[str, float]:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    direct, through, overhead = [], [], []
    async with httpx2.AsyncClient(headers=headers) as client:
        for i in range(-200, n):  # the first 200 warm both up
            content = body(i, setup.same_prompt)
            started = time.perf_counter()
            await client.post(f"http://127.0.0.1:{upstream}/v1/chat/completions", content=content)
            middle = time.perf_counter()
            response = await client.post(
                f"http://127.0.0.1:{endpoint}/v1/chat/completions", content=content
            )
            ended = time.perf_counter()
            assert response.status_code == 200, response.text
            if i >= 0:
                direct.append((middle - started) * 1000)
                through.append((ended - middle) * 1000)
                overhead.append(float(response.headers["x-proctor-overhead-ms"]))
    added = [b - a for a, b in zip(direct, through, strict=True)]
    return {
        "direct p50": statistics.median(direct),
        "endpoint p50": statistics.median(through),
        "added p50": statistics.median(through) - statistics.median(direct),
        "added p99": pct(through, 0.99) - pct(direct, 0.99),
        "pairwise added p50": statistics.median(added),
        "header p50": statistics.median(overhead),
        "header p99": pct(overhead, 0.99),
    }


async def timed_stream(
    client: httpx2.AsyncClient, url: str, content: bytes
) -> tuple[float, float, str]:
    """Milliseconds to the first chunk and to ``[DONE]``, and the overhead header (if any)."""
    started = time.perf_counter()
    first = None
    async with client.stream("POST", url, content=content) as response:
        assert response.status_code == 200, await response.aread()
        received = b""
        async for data in response.aiter_raw():
            if first is None:
                first = time.perf_counter()
            received += data
        assert received.endswith(b"data: [DONE]\n\n"), received[-200:]
        assert received.count(b"data: ") >= STREAM_CHUNKS
    ended = time.perf_counter()
    assert first is not None
    header = response.headers.get("x-proctor-overhead-ms", "nan")
    return (first - started) * 1000, (ended - started) * 1000, header


async def stream_latency(upstream: int, endpoint: int, n: int) -> dict[str, float]:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    direct: list[tuple[float, float]] = []
    through: list[tuple[float, float]] = []
    overhead: list[float] = []
    async with httpx2.AsyncClient(headers=headers) as client:
        for i in range(-200, n):
            content = body(i, False, stream=True)
            a_first, a_end, _ = await timed_stream(
                client, f"http://127.0.0.1:{upstream}/v1/chat/completions", content
            )
            b_first, b_end, header = await timed_stream(
                client, f"http://127.0.0.1:{endpoint}/v1/chat/completions", content
            )
            if i >= 0:
                direct.append((a_first, a_end))
                through.append((b_first, b_end))
                overhead.append(float(header))
    first_a = statistics.median(d[0] for d in direct)
    first_b = statistics.median(t[0] for t in through)
    end_a = statistics.median(d[1] for d in direct)
    end_b = statistics.median(t[1] for t in through)
    return {
        "first direct p50": first_a,
        "first via p50": first_b,
        "first added p50": first_b - first_a,
        "end direct p50": end_a,
        "end via p50": end_b,
        "end added p50": end_b - end_a,
        "header p50": statistics.median(overhead),
    }


def measure(setup: Setup, upstream: int, args: argparse.Namespace) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = ctx.Process(target=run_endpoint, args=(setup, port, upstream, f"{tmp}/p.db"))
        proc.start()
        try:
            wait_for(port, proc.is_alive)
            figures = asyncio.run(latency(setup, upstream, port, args.requests))
            path = "/v1/chat/completions"
            rps, p50 = load(port, path, KEY, args.seconds, 32, same=setup.same_prompt)
            figures["rps"], figures["load p50"] = rps, p50
            if setup.streams and args.stream_requests:
                streamed = asyncio.run(stream_latency(upstream, port, args.stream_requests))
                figures.update({f"stream {name}": value for name, value in streamed.items()})
        finally:
            proc.terminate()
            proc.join()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stream-requests", type=int, default=1000)
    parser.add_argument("--only", help="run only setups whose name contains this")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    upstream_port = free_port()
    upstream = ctx.Process(target=serve_upstream, args=(upstream_port,), daemon=True)
    upstream.start()
    wait_for(upstream_port, upstream.is_alive)
    try:
        rps, p50 = load(upstream_port, "/v1/chat/completions", KEY, args.seconds, 32, same=True)
        print(f"upstream alone under the same load: {rps:,.0f} req/s (p50 {p50:.2f} ms)")
        print(
            f"{'configuration':44} {'direct':>7} {'via':>7} {'added':>7} {'added':>7} "
            f"{'header':>7} {'header':>7} {'req/s':>7}"
        )
        print(f"{'':44} {'p50':>7} {'p50':>7} {'p50':>7} {'p99':>7} {'p50':>7} {'p99':>7}")
        streamed: list[tuple[str, dict[str, float]]] = []
        for setup in SETUPS:
            if args.only and args.only not in setup.name:
                continue
            f = measure(setup, upstream_port, args)
            print(
                f"{setup.name:44} {f['direct p50']:7.3f} {f['endpoint p50']:7.3f} "
                f"{f['added p50']:7.3f} {f['added p99']:7.3f} {f['header p50']:7.3f} "
                f"{f['header p99']:7.3f} {f['rps']:7,.0f}",
                flush=True,
            )
            if "stream header p50" in f:
                streamed.append((setup.name, f))
        for name, f in streamed:
            print(
                f"\nstreamed ({STREAM_CHUNKS} text chunks), {name}, p50 ms:\n"
                f"  first chunk: direct {f['stream first direct p50']:.3f}, via "
                f"{f['stream first via p50']:.3f}, added {f['stream first added p50']:.3f} "
                f"(header {f['stream header p50']:.3f})\n"
                f"  whole stream: direct {f['stream end direct p50']:.3f}, via "
                f"{f['stream end via p50']:.3f}, added {f['stream end added p50']:.3f}",
                flush=True,
            )
    finally:
        upstream.terminate()
        upstream.join()


if __name__ == "__main__":
    main()
