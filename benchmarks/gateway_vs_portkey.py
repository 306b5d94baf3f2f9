"""The endpoint beside the Portkey gateway, in front of the same upstream, in one run.

Four processes on loopback: the minimal upstream of ``gateway_overhead.py``, one Proctor
endpoint worker (``serve_gateway``, as ``proctor gateway serve`` runs it), one Portkey
gateway (npm ``@portkey-ai/gateway``, ``--headless``, ``NODE_ENV=production``; ``make
bench`` installs it in ``.tools/portkey``), and this driver. Portkey is pointed at the
upstream by its request headers (``x-portkey-provider: openai``,
``x-portkey-custom-host``).

Latency: N rounds of three sequential requests from one httpx client, to the upstream
directly, through Proctor and through Portkey, in a random order each round (seeded);
*added* p50/p99 of a gateway is its p50/p99 minus the direct one's. Throughput: requests
per second of each under 32 keep-alive connections (the raw load generator), each in turn,
after a round that is not counted, then ``--rounds`` times; the median is printed. Every
prompt differs, so each Proctor call is a cache miss and a cache write. Proctor runs with
every check a production key has on (the first line printed says which); Portkey with no
config, so it only relays (no cache, no retries).

    python benchmarks/gateway_vs_portkey.py [--requests 2000] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from _loadgen import free_port, load, pct, serve_upstream, wait_for
from gateway_overhead import KEY, Setup, body, run_endpoint

ROOT = Path(__file__).parents[1]
PORTKEY = ROOT / ".tools/portkey/node_modules/@portkey-ai/gateway"
PATH = "/v1/chat/completions"

# A team's key as one would configure it, with every check on each call's path: a monthly
# budget (each call takes its projected cost from a lease held in the store), its own
# rpm/tpm (token buckets, x-ratelimit-* headers), far above what the load reaches.
BUDGET_KEY = {
    "name": "bench",
    "key_env": "BENCH_KEY",
    "budget_usd": 1000,
    "period": "month",
    "rpm": 1_000_000,
    "tpm": 100_000_000,
}
PROCTOR = Setup(
    "as shipped, every check on",
    extra={
        "keys": [BUDGET_KEY],
        "retry": {"max_retries": 2, "backoff_s": 0.5, "max_backoff_s": 8},
        "cooldown": {"allowed_failures": 3, "cooldown_s": 30},
        "rate_limits": {"backend": "memory", "max_wait_s": 5},
    },
)
TARGETS = ("direct", "proctor", "portkey")


def proctor_is_on() -> str:
    key = BUDGET_KEY
    return (
        f"Proctor: one worker (uvloop, httptools); key with a ${key['budget_usd']:,}/"
        f"{key['period']} budget (each call's part from a lease in the store), "
        f"rpm {key['rpm']:,} and "
        f"tpm {key['tpm']:,} (x-ratelimit-* headers), deployment rpm limit; cache: "
        f"{PROCTOR.cache} (a miss and a write per call); call ledger in SQLite (WAL), a batch "
        f"every {PROCTOR.flush_after_s * 1000:g} ms; retries, cooldown, pricing"
    )


@contextmanager
def portkey(port: int, path: Path) -> Iterator[str]:
    """Run Portkey's server on ``port``; yield its version."""
    server = path / "build" / "start-server.js"
    if not server.exists():
        raise SystemExit(f"Portkey is not installed at {path}: `make bench` installs it")
    version = json.loads((path / "package.json").read_text())["version"]
    env = {**os.environ, "NODE_ENV": "production"}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            ["node", str(server), "--headless", f"--port={port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_for(port, lambda: proc.poll() is None)
            yield version
        except RuntimeError:
            log.seek(0)
            print(log.read().decode(errors="replace"), file=sys.stderr)
            raise
        finally:
            proc.terminate()
            proc.wait()


def routing(target: str, upstream: int) -> dict[str, str]:
    """Portkey's headers naming the upstream (it has no config file here); none for others."""
    if target != "portkey":
        return {}
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{upstream}/v1",
    }


async def latency(ports: dict[str, int], n: int) -> dict[str, list[float]]:
    """Milliseconds per request of each target, alternated; checks Proctor's checks are on."""
    times: dict[str, list[float]] = {target: [] for target in TARGETS}
    common = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    headers = {target: {**common, **routing(target, ports["direct"])} for target in TARGETS}
    # A request pays for work the one before it left behind (a ledger batch, node's garbage
    # collection): up to 0.3 ms here. A fixed rotation let Proctor follow the upstream 2/3
    # of the time and Portkey follow Proctor; a random order lets each follow each alike.
    order = list(TARGETS)
    shuffle = random.Random(17).shuffle
    async with httpx2.AsyncClient() as client:
        for i in range(-300, n):  # the first 300 warm all three up (node's JIT too)
            content = body(i, False)
            shuffle(order)
            for target in order:
                started = time.perf_counter()
                response = await client.post(
                    f"http://127.0.0.1:{ports[target]}{PATH}",
                    content=content,
                    headers=headers[target],
                )
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (target, response.text)
                if target == "proctor" and i == -300:
                    assert response.headers["x-proctor-cache"] == "miss", response.headers
                    assert "x-ratelimit-remaining-tokens" in response.headers, response.headers
                if i >= 0:
                    times[target].append(elapsed)
    return times


def ledger_rows(db: str) -> tuple[int, float]:
    """Rows of the worker's call ledger and the spend they count."""
    with sqlite3.connect(db) as conn:
        rows, spent = conn.execute("SELECT count(*), sum(cost_usd) FROM gateway_calls").fetchone()
    return int(rows), float(spent or 0)


def report(times: dict[str, list[float]], rps: dict[str, list[float]]) -> None:
    direct = times["direct"]
    added: dict[str, tuple[float, float]] = {}
    print(f"\n{'ms':8} {'p50':>7} {'p99':>7} {'added p50':>10} {'added p99':>10} {'req/s':>8}")
    for target in TARGETS:
        mine = times[target]
        p50, p99 = statistics.median(mine), pct(mine, 0.99)
        added[target] = (p50 - statistics.median(direct), p99 - pct(direct, 0.99))
        more = "" if target == "direct" else f"{added[target][0]:10.3f} {added[target][1]:10.3f}"
        print(f"{target:8} {p50:7.3f} {p99:7.3f} {more:>21} {statistics.median(rps[target]):8,.0f}")
    ratio = added["proctor"][0] / added["portkey"][0]
    served = statistics.median(rps["proctor"]) / statistics.median(rps["portkey"])
    rounds = {t: ", ".join(f"{r:,.0f}" for r in rps[t]) for t in ("proctor", "portkey")}
    print(
        f"(req/s: median of {len(rps['direct'])} rounds of 32 connections each; Proctor "
        f"{rounds['proctor']}, Portkey {rounds['portkey']})\n"
        f"Proctor/Portkey: added p50 {ratio:.2f}x, requests per second {served:.2f}x"
    )
    p99 = added["proctor"][1]
    print(
        f"targets: Proctor's added p50 <= 0.5x Portkey's: {'met' if ratio <= 0.5 else 'NOT met'}"
        f" ({ratio:.2f}x); its added p99 <= 2 ms: {'met' if p99 <= 2 else 'NOT met'}"
        f" ({p99:.3f} ms)"
    )


@dataclass
class Measured:
    """One run of the comparison: latencies (ms) and requests per second of each target."""

    times: dict[str, list[float]]
    rps: dict[str, list[float]]
    portkey_version: str
    node_version: str
    ledger_rows: int
    ledger_spent: float


def measure(
    requests: int, seconds: float, rounds: int, warmup: float, portkey_path: Path = PORTKEY
) -> Measured:
    """Start the upstream, Proctor's worker and Portkey, measure them alternated, stop them."""
    ctx = multiprocessing.get_context("spawn")
    ports = {target: free_port() for target in TARGETS}
    upstream = ctx.Process(target=serve_upstream, args=(ports["direct"],), daemon=True)
    upstream.start()
    wait_for(ports["direct"], upstream.is_alive)
    with tempfile.TemporaryDirectory() as tmp, portkey(ports["portkey"], portkey_path) as version:
        db = f"{tmp}/proctor.db"
        worker = ctx.Process(
            target=run_endpoint, args=(PROCTOR, ports["proctor"], ports["direct"], db)
        )
        worker.start()
        try:
            wait_for(ports["proctor"], worker.is_alive)
            node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
            times = asyncio.run(latency(ports, requests))
            rps: dict[str, list[float]] = {target: [] for target in TARGETS}
            # Under load node's JIT keeps optimising: Portkey's rate here doubled over its
            # first 10 s. A first round of each, not counted, lets both settle.
            for length, counted in [(warmup, False)] + [(seconds, True)] * rounds:
                for target in TARGETS:
                    headers = routing(target, ports["direct"])
                    rate, _ = load(
                        ports[target], PATH, KEY, length, 32, same=False, headers=headers
                    )
                    if counted:
                        rps[target].append(rate)
        finally:
            worker.terminate()
            worker.join()
            upstream.terminate()
            upstream.join()
        rows, spent = ledger_rows(db)
    return Measured(times, rps, version, node.strip(), rows, spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load, not counted")
    parser.add_argument("--portkey", type=Path, default=PORTKEY, help="the npm package's folder")
    args = parser.parse_args()
    print(proctor_is_on())
    got = measure(args.requests, args.seconds, args.rounds, args.warmup, args.portkey)
    print(
        f"Portkey {got.portkey_version} on node {got.node_version} (--headless, "
        "NODE_ENV=production): provider openai at a custom host, no config (no cache, no retries)"
    )
    report(got.times, got.rps)
    print(
        f"Proctor's ledger: {got.ledger_rows:,} calls recorded, ${got.ledger_spent:.4f} counted "
        "against the budget"
    )


if __name__ == "__main__":
    main()
