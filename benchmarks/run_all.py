"""``make bench``: every comparison with the peers, in one run, and the one table.

Runs each comparison in turn, contenders alternated within it (one process, except the
gateways and the CLI, which are processes by nature), repeated; writes
``benchmarks/results/latest.json`` (the machine, versions, each figure's p50 and p99 and
its ratio to its baseline) and regenerates the table in ``docs/benchmarks.md`` between
its ``<!-- bench:table -->`` markers, then prints that table. ``--quick`` is a smoke run:
fewer rounds, written to ``benchmarks/results/quick.json``, the docs left alone.

Peers (pydantic-ai, openai-agents, DBOS, cedarpy, the agent governance toolkit) come from
``benchmarks/requirements.txt`` in ``.bench-venv``, which ``make bench`` builds; Portkey
from npm in ``.tools/portkey``. Asserts nothing about time; fails (exit 1) if a comparison
could not run, after writing what did.

    .bench-venv/bin/python benchmarks/run_all.py [--quick] [--only policy --only steps ...]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).parent))
from bench_report import (
    Comparison,
    Figure,
    Results,
    machine_end,
    machine_start,
    now,
    pct,
    render_table,
    update_doc,
    versions,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PEERS = (
    "proctor-runtime",
    "pydantic-ai-slim",
    "openai-agents",
    "dbos",
    "cedarpy",
    "agent-governance-toolkit",
    "agent-governance-toolkit-core",
    "common-expression-language",
)


@dataclass(frozen=True)
class Sizes:
    """How much each comparison runs: full for ``make bench``, small for ``--quick``."""

    steps: int = 50
    step_rounds: int = 40
    policy_rounds: int = 20
    decisions: int = 500
    events: int = 5000
    append_rounds: int = 7
    requests: int = 2000
    load_seconds: float = 5.0
    load_rounds: int = 3
    warmup_seconds: float = 3.0
    cli_repeat: int = 15


QUICK = Sizes(
    steps=20,
    step_rounds=4,
    policy_rounds=4,
    decisions=200,
    events=1000,
    append_rounds=2,
    requests=300,
    load_seconds=1.0,
    load_rounds=1,
    warmup_seconds=1.0,
    cli_repeat=3,
)


def policy(sizes: Sizes) -> Comparison:
    import peer_policy

    return peer_policy.compare(sizes.policy_rounds, sizes.decisions)


def steps(sizes: Sizes) -> Comparison:
    import peer_steps

    return peer_steps.compare(sizes.steps, sizes.step_rounds)


def appends(sizes: Sizes) -> Comparison:
    """The append path. ``append_path.py`` (the runtime's path against raw SQLite) where
    it exists; else ``store_appends.py``'s store-level figures."""
    try:
        module = importlib.import_module("append_path")
    except ImportError:
        return asyncio.run(_store_appends(sizes))
    return asyncio.run(_append_path(module, sizes))


Rate = Callable[[str], Awaitable[float]]


async def _alternate_rates(contenders: dict[str, Rate], rounds: int) -> dict[str, list[float]]:
    """Events per second of each contender, one go each per round, orders rotated."""
    names = list(contenders)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for number, name in enumerate(names):  # warm-up: imports, caches, files
        await contenders[name](f"warm-{number}")
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            rates[name].append(await contenders[name](f"r{index}-{names.index(name)}"))
    return rates


async def _append_path(module: ModuleType, sizes: Sizes) -> Comparison:
    """Hook for ``benchmarks/append_path.py`` (its ``events`` and ``Contenders``): the
    runtime's ``RunJournal.append`` against ``store.append`` and raw sqlite3 on the same
    rows, every contender checkpointing inside its commits as raw SQLite does (that
    script's default: a like-for-like ratio)."""
    batch = 50
    data = module.events(sizes.events)
    with tempfile.TemporaryDirectory() as tmp:
        bench = module.Contenders(Path(tmp), data, batch, shipped=False)
        raw, raw1 = f"raw sqlite3, {batch} rows/tx", "raw sqlite3, 1 row/tx"
        contenders: dict[str, Rate] = {
            raw: lambda r: bench.raw_sqlite(r, batch),
            raw1: lambda r: bench.raw_sqlite(r, 1),
            f"store.append, {batch} events": bench.store_append,
            f"RunJournal.append, {batch} events": lambda r: bench.journal_append(r, batch),
            "RunJournal.append, 1 event": lambda r: bench.journal_append(r, 1),
        }
        try:
            rates = await _alternate_rates(contenders, sizes.append_rounds)
        finally:
            await bench.close()
    comparison = Comparison(
        name="appends",
        method=f"append_path.py: {sizes.events:,} events (governed steps' five events) per "
        f"contender per round, {sizes.append_rounds} rounds, orders rotated; SQLite WAL, "
        "synchronous=NORMAL, checkpoints inside commits for all; ratio: the contender's rate "
        "/ raw sqlite3's",
    )
    for name, samples in rates.items():
        base = None if name.startswith("raw") else (raw1 if name.endswith(" 1 event") else raw)
        comparison.add(Figure.of(name, "events/s", samples, baseline=base, p99=False))
    return comparison


async def _store_appends(sizes: Sizes) -> Comparison:
    """``store_appends.py``'s SQLite figures (sealed rows through ``store.append``)."""
    import store_appends

    from proctor.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")

        def rate(batch: int, with_run: bool) -> Rate:
            return lambda run_id: store_appends.appends_per_second(
                store, run_id, sizes.events, batch, with_run=with_run
            )

        batched = "store.append, 50 events"
        contenders = {
            batched: rate(50, False),
            "store.append, 1 event": rate(1, False),
            "store.append, 1 event + run row": rate(1, True),
        }
        try:
            rates = await _alternate_rates(contenders, sizes.append_rounds)
        finally:
            await store.close()
    comparison = Comparison(
        name="appends",
        method=f"store_appends.py (append_path.py not on this branch): {sizes.events:,} sealed "
        f"events per contender per round, {sizes.append_rounds} rounds, orders rotated; "
        "SQLite WAL, synchronous=NORMAL",
    )
    for name, samples in rates.items():
        base = None if name == batched else batched
        comparison.add(Figure.of(name, "events/s", samples, baseline=base, p99=False))
    return comparison


def gateway(sizes: Sizes) -> Comparison:
    import gateway_vs_portkey as gvp

    got = gvp.measure(sizes.requests, sizes.load_seconds, sizes.load_rounds, sizes.warmup_seconds)
    comparison = Comparison(
        name="gateway",
        method=f"{sizes.requests:,} rounds of one request each to the upstream, Proctor's "
        f"endpoint (every check on) and Portkey {got.portkey_version} (node "
        f"{got.node_version}), random order; then {sizes.load_rounds} x "
        f"{sizes.load_seconds:g} s of 32 connections each; added = gateway - direct",
    )
    direct = got.times["direct"]
    comparison.add(Figure.of("direct to the upstream", "ms", direct))
    for target, base in (("portkey", None), ("proctor", "portkey: added")):
        mine = got.times[target]
        comparison.add(
            Figure(
                name=f"{target}: added",
                unit="ms",
                p50=statistics.median(mine) - statistics.median(direct),
                p99=pct(mine, 0.99) - pct(direct, 0.99),
                n=len(mine),
                baseline=base,
            )
        )
    for target, base in (("portkey", None), ("proctor", "portkey: requests per second")):
        comparison.add(
            Figure.of(
                f"{target}: requests per second", "req/s", got.rps[target], baseline=base, p99=False
            )
        )
    return comparison


def cli(sizes: Sizes) -> Comparison:
    import cli_startup

    times = cli_startup.measure(sizes.cli_repeat)
    floor = "a Typer app's --help"
    comparison = Comparison(
        name="CLI start-up",
        method=f"CPU (user + system) of each command as a fresh process, {sizes.cli_repeat} "
        "runs each, commands in turn; baseline: a one-command Typer app's --help",
    )
    for name, samples in times.items():
        base = floor if name.startswith("proctor") else None
        comparison.add(Figure.of(name, "s CPU", samples, baseline=base))
    return comparison


COMPARISONS: dict[str, Callable[[Sizes], Comparison]] = {
    "policy": policy,
    "steps": steps,
    "appends": appends,
    "cli": cli,
    "gateway": gateway,
}
TITLES = {
    "policy": "policy decision",
    "steps": "governed step",
    "appends": "appends",
    "cli": "CLI start-up",
    "gateway": "gateway",
}


def run(names: list[str], sizes: Sizes, quick: bool) -> Results:
    results = Results(started=now(), quick=quick, machine=machine_start(), versions=_versions())
    for name in names:
        print(f"== {TITLES[name]} ...", flush=True)
        started = time.perf_counter()
        try:
            comparison = COMPARISONS[name](sizes)
        except Exception as exc:  # a comparison that cannot run is reported, the rest go on
            traceback.print_exc()
            comparison = Comparison(
                name=TITLES[name], method="", error=f"{type(exc).__name__}: {exc}"
            )
        comparison.seconds = round(time.perf_counter() - started, 1)
        results.comparisons.append(comparison)
        print(f"   {comparison.seconds:.0f} s", flush=True)
    machine_end(results.machine)
    results.finished = now()
    return results


def _versions() -> dict[str, str]:
    found = versions(PEERS)
    package = ROOT / ".tools/portkey/node_modules/@portkey-ai/gateway/package.json"
    found["@portkey-ai/gateway"] = (
        json.loads(package.read_text())["version"] if package.exists() else "not installed"
    )
    found["node"] = _output(["node", "--version"])
    found["proctor commit"] = _output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return found


def _output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not available"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument(
        "--only", action="append", choices=list(COMPARISONS), help="run only these (repeat)"
    )
    parser.add_argument("--out", type=Path, help="the JSON file (default: results/latest.json)")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    names = args.only or list(COMPARISONS)
    results = run(names, QUICK if args.quick else Sizes(), args.quick)
    complete = names == list(COMPARISONS)
    kind = "quick" if args.quick else "latest" if complete else "partial"
    out = args.out or RESULTS / f"{kind}.json"
    results.write(out)
    table = render_table(results)
    if complete and not args.quick and not args.no_docs:
        update_doc(DOC, results)
        print(f"\nwrote {out.relative_to(ROOT)} and the table in {DOC.relative_to(ROOT)}\n")
    else:
        print(f"\nwrote {out}; docs/benchmarks.md left alone (a quick or partial run)\n")
    print(table)
    failed = [c.name for c in results.comparisons if c.error is not None]
    if failed:
        raise SystemExit(f"could not run: {', '.join(failed)} (see the errors above)")


if __name__ == "__main__":
    main()
