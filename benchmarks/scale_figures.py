"""Lists, filters and traces at a million runs: through the store API, the HTTP API and
the CLI, over a store ``seed_scale.py`` built.

Each figure is the median and p90 of ``--repeats`` calls after one not counted (which
warms the page cache; the "a run not read before" rows read a different run each time):

- store API: the ``Store`` calls the HTTP API makes for tenant ``default`` (a page of 51
  runs, the capped totals, one run's events, a page of pending approvals as shown);
- HTTP API: ``proctor serve`` as a process (uvicorn on loopback, ``--port``), asked by
  one keep-alive client with an admin key made by ``proctor keys create``;
- CLI: ``proctor --db STORE ...`` as whole processes, start-up included (wall clock; the
  CPU the process took in brackets), beside the floors ``python -c pass`` and ``proctor
  --version``.

Prints a table (and the server's start-up time); asserts nothing. The store is read only,
but for the API key it adds (revoked at the end).

    python benchmarks/scale_figures.py --store /data/scale.db [--home DIR] [--repeats 7]
        [--port 18600] [--layers store,http,cli]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from proctor.audit import chained_approvals
from proctor.store import TOTALS_CAP, RunFilter, Store, approval_key, open_store

PROCTOR = Path(sys.executable).with_name("proctor")
RARE_WORD = "quokka"
ABSENT_WORD = "numbat"
COMMON_WORD = "invoice"
TENANT = "default"


@dataclass
class Case:
    """One thing to time, as each layer asks for it (``None``: not asked there)."""

    label: str
    store: Callable[[Store], Awaitable[int]] | None
    http: str | None
    cli: list[str] | None
    figures: dict[str, list[float]] = field(default_factory=dict)
    rows: str = ""


def p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def cell(samples: list[float] | None) -> str:
    if not samples:
        return "-"
    return f"{statistics.median(samples):,.1f} / {p90(samples):,.1f}"


@dataclass
class Sample:
    """Runs and keys the cases name, picked from the store."""

    run_id: str
    session: str
    fresh: list[list[str]]
    """Three sets of runs no case has read (one per layer), for traces of cold runs."""


async def pick(store: Store, repeats: int) -> Sample:
    newest = await store.list_runs(RunFilter(tenant=TENANT, outcome="resolved", limit=1))
    recent = await store.list_runs(RunFilter(tenant=TENANT, limit=500))
    session = next(run.session for run in recent if run.session is not None)
    oldest = await store.list_runs(RunFilter(tenant=TENANT, sort="started", limit=1))
    span = newest[0].started_at - oldest[0].started_at
    rng = random.Random(5)
    fresh: list[list[str]] = []
    for _ in range(3):
        ids = []
        for _ in range(repeats + 1):
            since = oldest[0].started_at + rng.random() * span
            found = await store.list_runs(
                RunFilter(tenant=TENANT, since=since, sort="started", limit=1)
            )
            ids.append(found[0].run_id)
        fresh.append(ids)
    return Sample(run_id=newest[0].run_id, session=session, fresh=fresh)


def cases(sample: Sample) -> list[Case]:
    def page(**given: Any) -> Callable[[Store], Awaitable[int]]:
        async def call(store: Store) -> int:
            return len(await store.list_runs(RunFilter(tenant=TENANT, limit=51, **given)))

        return call

    def with_totals(**given: Any) -> Callable[[Store], Awaitable[int]]:
        async def call(store: Store) -> int:
            query = RunFilter(tenant=TENANT, limit=51, **given)
            await store.list_runs(query)
            return (await store.run_totals(query, cap=TOTALS_CAP)).runs

        return call

    async def trace(store: Store) -> int:
        return len(await store.events(sample.run_id))

    fresh = iter(sample.fresh[0])

    async def trace_fresh(store: Store) -> int:
        return len(await store.events(next(fresh)))

    async def approvals_counted(store: Store) -> int:
        return await store.count_approvals("pending", tenant=TENANT)

    async def approvals_nav(store: Store) -> int:
        return await store.count_approvals("pending", tenant=TENANT, cap=1_000)

    async def approvals_shown(store: Store) -> int:
        found = await store.list_approvals("pending", tenant=TENANT, limit=51)
        return len(await chained_approvals(store, found))

    middle: list[tuple[float, str]] = []

    async def approvals_later(store: Store) -> int:
        if not middle:  # a cursor halfway through the pending approvals
            counted = await store.count_approvals("pending", tenant=TENANT)
            ahead = await store.list_approvals("pending", tenant=TENANT, limit=counted // 2)
            middle.append(approval_key("requested", ahead[-1]))
        found = await store.list_approvals("pending", tenant=TENANT, after=middle[0], limit=51)
        return len(await chained_approvals(store, found))

    async def decided_recently(store: Store) -> int:
        found = await store.list_approvals(None, tenant=TENANT, order="-decided", limit=20)
        return len(await chained_approvals(store, found))

    session = sample.session
    runs = "/api/v1/runs"
    return [
        Case("runs, newest first (a page)", page(), runs, ["runs"]),
        Case(
            "status awaiting_approval",
            page(status="awaiting_approval"),
            f"{runs}?status=awaiting_approval",
            ["runs", "--status", "awaiting_approval"],
        ),
        Case(
            "outcome failed",
            page(outcome="failed"),
            f"{runs}?outcome=failed",
            ["runs", "--outcome", "failed"],
        ),
        Case(
            "workflow kyc_review (5% of runs)",
            page(workflow="kyc_review"),
            f"{runs}?workflow=kyc_review",
            ["runs", "--workflow", "kyc_review"],
        ),
        Case(
            "a session's runs, in start order",
            page(session=session, sort="started"),
            f"{runs}?session={session}&sort=started",
            ["runs", "--session", session, "--sort", "started"],
        ),
        Case(
            f"search a rare word ({RARE_WORD})",
            page(search=RARE_WORD),
            f"{runs}?search={RARE_WORD}",
            ["runs", "--search", RARE_WORD],
        ),
        Case(
            f"search a rare word ({RARE_WORD}), with totals",
            with_totals(search=RARE_WORD),
            f"{runs}?search={RARE_WORD}&totals=true",
            None,
        ),
        Case(
            f"search a word no run has ({ABSENT_WORD})",
            page(search=ABSENT_WORD),
            f"{runs}?search={ABSENT_WORD}",
            None,
        ),
        Case(
            f"search a run id's first 12 characters ({sample.run_id[:12]})",
            page(search=sample.run_id[:12]),
            f"{runs}?search={sample.run_id[:12]}",
            None,
        ),
        Case(
            f"search a common word ({COMMON_WORD})",
            page(search=COMMON_WORD),
            f"{runs}?search={COMMON_WORD}",
            None,
        ),
        Case(
            f"search a common word ({COMMON_WORD}), with totals",
            with_totals(search=COMMON_WORD),
            f"{runs}?search={COMMON_WORD}&totals=true",
            None,
        ),
        Case(
            "sort by cost, costliest first",
            page(sort="-cost"),
            f"{runs}?sort=-cost",
            ["runs", "--sort", "-cost"],
        ),
        # What the web UI's runs list asks for (and `proctor runs` whenever a page is full).
        Case("a page with totals (capped)", with_totals(), f"{runs}?totals=true", None),
        Case(
            "status awaiting_approval, with totals",
            with_totals(status="awaiting_approval"),
            f"{runs}?status=awaiting_approval&totals=true",
            None,
        ),
        Case(
            "outcome failed, with totals",
            with_totals(outcome="failed"),
            f"{runs}?outcome=failed&totals=true",
            None,
        ),
        Case(
            "workflow kyc_review, with totals",
            with_totals(workflow="kyc_review"),
            f"{runs}?workflow=kyc_review&totals=true",
            None,
        ),
        Case(
            "trace: one run's events (the same run)",
            trace,
            f"{runs}/{sample.run_id}/events",
            ["trace", sample.run_id],
        ),
        Case(
            "trace: a run not read before",
            trace_fresh,
            f"{runs}/{{fresh}}/events",
            ["trace", "{fresh}"],
        ),
        Case("pending approvals, counted (all)", approvals_counted, None, None),
        Case("pending approvals, counted for the nav (999+)", approvals_nav, None, None),
        Case(
            "pending approvals, a page as shown (each one's request from its log)",
            approvals_shown,
            "/api/v1/approvals",
            ["approvals"],
        ),
        Case("pending approvals, a page halfway through", approvals_later, None, None),
        Case("the latest 20 decisions, as shown", decided_recently, None, None),
    ]


def repeat(call: Callable[[], float], repeats: int) -> list[float]:
    """``repeats`` timings of ``call`` (ms) after one not counted; 3 when it is slow."""
    first = call()
    count = repeats if first < 2_000 else min(repeats, 3)
    return [call() for _ in range(count)]


async def time_store(location: str, all_cases: list[Case], repeats: int) -> None:
    store = open_store(location, create=False)
    try:
        for case in all_cases:
            if case.store is None:
                continue
            found = [0]

            async def once(
                call: Callable[[Store], Awaitable[int]] = case.store, found: list[int] = found
            ) -> float:
                began = time.perf_counter()
                found[0] = await call(store)
                return (time.perf_counter() - began) * 1000

            first = await once()
            count = repeats if first < 2_000 else min(repeats, 3)
            case.figures["store"] = [await once() for _ in range(count)]
            case.rows = f"{found[0]:,}"
    finally:
        await store.close()


def admin_key(location: str, env: dict[str, str]) -> tuple[str, str]:
    made = subprocess.run(
        [
            str(PROCTOR),
            "--db",
            location,
            "keys",
            "create",
            "--role",
            "admin",
            "--tenant",
            TENANT,
            "--name",
            "scale-figures",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(made.stdout)
    return str(record["key"]), str(record["key_id"])


def time_http(
    location: str,
    all_cases: list[Case],
    sample: Sample,
    repeats: int,
    port: int,
    env: dict[str, str],
) -> float:
    """Time each case's request against ``proctor serve``; returns its start-up (s)."""
    token, key_id = admin_key(location, env)
    log = open(Path(env["PROCTOR_HOME"]) / "scale-serve.log", "w")  # noqa: SIM115
    began = time.perf_counter()
    server = subprocess.Popen(
        [str(PROCTOR), "--db", location, "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600
        ) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.perf_counter() - began > 120:
                    raise SystemExit(f"proctor serve did not start: see {log.name}")
                time.sleep(0.05)
            started = time.perf_counter() - began
            fresh = iter(sample.fresh[1])
            for case in all_cases:
                if case.http is None:
                    continue
                sizes: list[int] = []

                def once(path: str = case.http, sizes: list[int] = sizes) -> float:
                    path = path.replace("{fresh}", next(fresh)) if "{fresh}" in path else path
                    at = time.perf_counter()
                    answer = client.get(path)
                    spent = (time.perf_counter() - at) * 1000
                    if answer.status_code != 200:
                        raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:200]}")
                    sizes.append(len(answer.content))
                    return spent

                case.figures["http"] = repeat(once, repeats)
                case.figures["bytes"] = [float(sizes[-1])]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        subprocess.run(
            [str(PROCTOR), "--db", location, "keys", "revoke", key_id],
            env=env,
            capture_output=True,
            check=False,
        )
    return started


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock ms of ``command`` run to completion, and the CPU ms it took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = (time.perf_counter() - began) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu * 1000


def time_cli(
    location: str, all_cases: list[Case], sample: Sample, repeats: int, env: dict[str, str]
) -> list[Case]:
    floors = [
        Case("floor: python -c pass", None, None, [sys.executable, "-c", "pass"]),
        Case("floor: proctor --version", None, None, [str(PROCTOR), "--version"]),
    ]
    fresh = iter(sample.fresh[2])
    for case in [*floors, *all_cases]:
        if case.cli is None:
            continue
        base = case.cli if case in floors else [str(PROCTOR), "--db", location, *case.cli]
        cpu: list[float] = []

        def once(base: list[str] = base, cpu: list[float] = cpu) -> float:
            command = [next(fresh) if part == "{fresh}" else part for part in base]
            wall, used = run_once(command, env)
            cpu.append(used)
            return wall

        case.figures["cli"] = repeat(once, repeats)
        case.figures["cli cpu"] = cpu[1:]
    return floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a SQLite file or a postgresql:// URL")
    parser.add_argument("--home", type=Path, default=None, help="Proctor home (the seeder's)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--port", type=int, default=18600)
    parser.add_argument("--layers", default="store,http,cli")
    args = parser.parse_args()
    layers = set(args.layers.split(","))
    home = (args.home or Path(os.environ.get("PROCTOR_HOME") or ".proctor")).resolve()
    env = {**os.environ, "PROCTOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("PROCTOR_DB", None)
    location = args.store if "://" in args.store else str(Path(args.store).resolve())

    async def picked() -> Sample:
        store = open_store(location, create=False)
        try:
            return await pick(store, args.repeats)
        finally:
            await store.close()

    sample = asyncio.run(picked())
    all_cases = cases(sample)
    if "store" in layers:
        asyncio.run(time_store(location, all_cases, args.repeats))
    started = None
    if "http" in layers:
        started = time_http(location, all_cases, sample, args.repeats, args.port, env)
    floors = time_cli(location, all_cases, sample, args.repeats, env) if "cli" in layers else []
    print(f"store {location}; ms, median / p90 of {args.repeats} after one not counted")
    print("| what | store API | HTTP API | CLI (process) | CLI CPU | rows | HTTP bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in [*floors, *all_cases]:
        got = case.figures
        size = f"{int(got['bytes'][0]):,}" if "bytes" in got else ""
        cpu = f"{statistics.median(got['cli cpu']):,.0f}" if got.get("cli cpu") else "-"
        print(
            f"| {case.label} | {cell(got.get('store'))} | {cell(got.get('http'))} | "
            f"{cell(got.get('cli'))} | {cpu} | {case.rows} | {size} |"
        )
    if started is not None:
        print(f"proctor serve answered /healthz {started:.1f} s after it was started")


if __name__ == "__main__":
    main()
