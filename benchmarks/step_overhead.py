"""Per-step overhead of a governed step: validate, decide, append durably, cost, fold.

A scripted model proposes one trivial tool call per turn; each step is therefore one
model turn plus one tool call, with every event written to SQLite (WAL). The figure is
the loop's own cost: the model and the tools do no work.

The last variant exports every step live as OpenTelemetry spans (``proctor.telemetry``):
the spans are encoded to OTLP protobuf by the SDK's batch processor, as for a receiver,
and then dropped, so the figure is what the process pays and not what a receiver on the
same two cores would take.

    python benchmarks/step_overhead.py [--steps 200] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from proctor.contracts import Contract
from proctor.gateway import ScriptedModel, Turn
from proctor.runtime import Runner, Workflow
from proctor.store import SQLiteStore
from proctor.telemetry import configure_live_export, reset_live_export
from proctor.tools import Registry, tool


@tool("kv.get", idempotent=True)
async def kv_get(key: str, version: int = 1) -> dict[str, object]:
    """Read a key."""
    return {"key": key, "value": 42, "version": version}


@tool("kv.get_sync", idempotent=True)
def kv_get_sync(key: str) -> dict[str, object]:
    """Read a key (a sync tool: runs in a worker thread)."""
    return {"key": key, "value": 42}


def workflow(tool_name: str, steps: int, cost_cap: bool) -> Workflow:
    turns = [Turn(calls=[(tool_name, {"key": f"k{i}"})]) for i in range(steps)]
    turns.append(Turn(text="done"))
    limits: dict[str, float] = {"max_tool_calls": steps + 1, "max_model_calls": steps + 2}
    if cost_cap:  # each turn's prompt is then counted (tiktoken) for the projected cost
        limits |= {"max_cost_usd": 100.0}
    contract = Contract.model_validate(
        {
            "workflow": "bench",
            "limits": limits,
            "model": {"max_tokens": 200},
            "approvals": [{"tool": "kv.get", "when": "args.key == 'never'"}],
            "escalation": {"on_policy_violation": True},
        }
    )
    return Workflow(
        name="bench",
        registry=Registry([kv_get, kv_get_sync]),
        contract=contract,
        instructions="benchmark",
        default_model="scripted:bench",
        scripts={
            "bench": lambda: ScriptedModel(scenario="bench", script=turns, priced_as="gpt-4o-mini")
        },
    )


class EncodeOnly(SpanExporter):
    """Encodes spans as the OTLP exporter does before sending them, then drops them."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


async def measure(
    tool_name: str, cost_cap: bool, steps: int, runs: int, db: Path, *, otel: bool = False
) -> list[float]:
    if otel:
        configure_live_export(EncodeOnly())
    store = SQLiteStore(db)
    runner = Runner(store, workflow(tool_name, steps, cost_cap))
    per_step: list[float] = []
    try:
        await runner.start({"warm": True})
        for _ in range(runs):
            started = time.perf_counter()
            result = await runner.start({"n": steps})
            elapsed = time.perf_counter() - started
            assert result.outcome == "resolved", result.outcome
            per_step.append(elapsed / steps * 1000)
    finally:
        await store.close()
        if otel:
            reset_live_export()
    return per_step


async def measure_keys(
    steps: int, runs: int, folder: Path
) -> tuple[list[float], list[float], list[float]]:
    """Per-step ms with the keyed chain (a MAC per commit, a signature at the end) and
    without keys, run in pairs (which goes first alternates), and each pair's ratio: on a
    noisy host the median of paired ratios is steadier than a ratio of medians."""
    stores = [SQLiteStore(folder / "keyed.db"), SQLiteStore(folder / "unkeyed.db")]
    keyed = Runner(stores[0], workflow("kv.get", steps, False))
    unkeyed = Runner(stores[1], workflow("kv.get", steps, False))
    unkeyed.deps = replace(unkeyed.deps, keys=None)  # the chain as before keyed evidence
    samples: tuple[list[float], list[float], list[float]] = ([], [], [])
    try:
        for runner in (keyed, unkeyed):
            await runner.start({"warm": True})
        for index in range(runs):
            pair: dict[bool, float] = {}
            for runner in (keyed, unkeyed) if index % 2 else (unkeyed, keyed):
                started = time.perf_counter()
                result = await runner.start({"n": steps})
                pair[runner is keyed] = (time.perf_counter() - started) / steps * 1000
                assert result.outcome == "resolved", result.outcome
            samples[0].append(pair[True])
            samples[1].append(pair[False])
            samples[2].append(pair[True] / pair[False])
    finally:
        for store in stores:
            await store.close()
    return samples


async def measure_checkpoints(steps: int, runs: int, folder: Path) -> dict[str, list[float]]:
    """The same loop on two stores, one checkpointing its WAL from its thread (as
    shipped), one leaving it to SQLite inside commits (``checkpoints=None``)."""
    return await measure_pair(
        steps,
        runs,
        {
            "thread": SQLiteStore(folder / "thread.db"),
            "in commits": SQLiteStore(folder / "commits.db", checkpoints=None),
        },
    )


async def measure_pair(
    steps: int, runs: int, stores: dict[str, SQLiteStore]
) -> dict[str, list[float]]:
    """The same loop on each of ``stores``, run in turns. Per run: ms per step; per step:
    the gap between one step's ``model_called`` and the next one's (the event times), so
    one slow commit shows as one slow step."""
    runners = {
        name: Runner(store, workflow("kv.get", steps, False)) for name, store in stores.items()
    }
    samples: dict[str, list[float]] = {
        f"{name} {what}": [] for name in stores for what in ("run", "step")
    }
    try:
        for runner in runners.values():
            await runner.start({"warm": True})
        names = list(runners)
        for index in range(runs):
            for name in names if index % 2 else names[::-1]:
                started = time.perf_counter()
                result = await runners[name].start({"n": steps})
                samples[f"{name} run"].append((time.perf_counter() - started) / steps * 1000)
                assert result.outcome == "resolved", result.outcome
                times = [
                    row.ts
                    for row in await stores[name].events(result.run_id)
                    if row.type == "model_called"
                ]
                samples[f"{name} step"].extend((b - a) * 1000 for a, b in itertools.pairwise(times))
    finally:
        for store in stores.values():
            await store.close()
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def print_pair(label: str, samples: dict[str, list[float]]) -> None:
    """One line per store of ``measure_pair``'s samples."""
    for name in dict.fromkeys(key.rsplit(" ", 1)[0] for key in samples):
        run, step = samples[f"{name} run"], samples[f"{name} step"]
        print(
            f"{label} {name:10}: per run p50 {statistics.median(run):.3f} ms/step, "
            f"p99 {percentile(run, 0.99):.3f}; per step p50 {statistics.median(step):.3f} ms, "
            f"p99 {percentile(step, 0.99):.3f}, p99.9 {percentile(step, 0.999):.3f}, "
            f"max {max(step):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--checkpoints", action="store_true", help="only the WAL checkpoint comparison"
    )
    parser.add_argument(
        "--search-index",
        action="store_true",
        help="only the comparison of stores with and without the search index's thread "
        "(short runs, e.g. --steps 5, put the most runs in its queue)",
    )
    args = parser.parse_args()
    if args.search_index:
        with tempfile.TemporaryDirectory() as tmp:
            pair = asyncio.run(
                measure_pair(
                    args.steps,
                    args.runs * 3,
                    {
                        "indexed": SQLiteStore(Path(tmp) / "indexed.db"),
                        "no index": SQLiteStore(Path(tmp) / "plain.db", search_index=False),
                    },
                )
            )
        print_pair("search index thread", pair)
        return
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = asyncio.run(measure_checkpoints(args.steps, args.runs * 3, Path(tmp)))
        print_pair("WAL checkpoints", checkpoints)
        if args.checkpoints:
            return
        variants = (
            ("kv.get", False, False, "async tool"),
            ("kv.get", True, False, "async tool, cost cap"),
            ("kv.get_sync", False, False, "sync tool (thread)"),
            ("kv.get", False, True, "async tool, live OTel"),
        )
        for name, cost_cap, otel, label in variants:
            db = Path(tmp) / f"{name}-{cost_cap}-{otel}.db"
            samples = asyncio.run(measure(name, cost_cap, args.steps, args.runs, db, otel=otel))
            p50 = statistics.median(samples)
            print(
                f"governed step, {label:20}: p50 {p50:.3f} ms, min {min(samples):.3f} ms "
                f"({args.runs} runs x {args.steps} steps; 6 events per step, SQLite WAL)"
            )
            print(
                f"  vs openai-agents 1.6 ms/step: {p50 / 1.6:.2f}x; "
                f"vs pydantic-ai 2.2 ms/step: {p50 / 2.2:.2f}x"
            )
        keyed, unkeyed, ratios = asyncio.run(measure_keys(args.steps, args.runs * 3, Path(tmp)))
        a, b = statistics.median(keyed), statistics.median(unkeyed)
        print(
            f"keyed evidence (MAC per commit, signed end) vs unkeyed chain, in pairs: "
            f"p50 {a:.3f} vs {b:.3f} ms per step; median paired ratio "
            f"{statistics.median(ratios):.3f}x"
        )


if __name__ == "__main__":
    main()
