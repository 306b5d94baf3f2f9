"""Replay throughput: cases per second, one core, with recorded model responses.

Builds a suite the way a user would: real runs of the shipped invoice example (its
scripted scenarios, in turn) in a temporary Proctor home, each captured into a case file
with ``capture_case``. Then it loads the suite and replays it with ``--recorded``
semantics (``ReplayOptions(recorded=True)``): every case through the full governed loop
(policy, hash-chained events, fixtures instead of tools, the in-memory scratch store).
Loading (YAML parsing and compiling) is timed apart from replaying. A second figure
replays the same suite with the live scripted models for comparison.

    python benchmarks/eval_replay.py [--cases 1000] [--runs 3] [--concurrency 8]
                                     [--scenarios clean,hasty,...]

Benchmarks print figures; they assert nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

SCENARIOS = {
    "clean": ("clean", "scripted:procedure"),
    "over_threshold": ("over_threshold", "scripted:procedure"),
    "inflated": ("inflated", "scripted:pushy"),
    "injected": ("injected", "scripted:gullible"),
    "mismatch": ("mismatch", "scripted:procedure"),
    "hasty": ("clean", "scripted:hasty"),
    "rechecker": ("clean", "scripted:rechecker"),
}


async def build_suite(folder: Path, cases: int, names: list[str]) -> None:
    from proctor.evals import capture_case, case_yaml
    from proctor.examples import invoice
    from proctor.runtime import Runner
    from proctor.store import SQLiteStore

    scenarios = [SCENARIOS[name] for name in names]
    store = SQLiteStore(folder.parent / "runs.db")
    flow = invoice.workflow()
    runner = Runner(store, flow)
    folder.mkdir()
    for i in range(cases):
        sample, model = scenarios[i % len(scenarios)]
        result = await runner.start(invoice.sample_input(sample), model=model)
        document = await capture_case(store, result.run_id, workflow=flow)
        name = f"{i:05d}-{sample}-{model.partition(':')[2]}.yaml"
        (folder / name).write_text(case_yaml(document, run_id=result.run_id), encoding="utf-8")
    await store.close()


async def replay(folder: Path, *, recorded: bool, concurrency: int) -> tuple[float, float, int]:
    from proctor.evals import ReplayOptions, SuiteReplay, load_suite, load_workflow_ref

    clock = time.perf_counter()
    suite = load_suite(folder)
    loaded = time.perf_counter() - clock
    options = ReplayOptions(recorded=recorded, concurrency=concurrency)
    replayer = SuiteReplay(suite, loader=load_workflow_ref, options=options)
    replayer.prepare()  # once per suite: workflow, fixture registry, contract, runner
    clock = time.perf_counter()
    result = await replayer.run()
    replayed = time.perf_counter() - clock
    return loaded, replayed, result.passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"Comma-separated, taken in turn (default: all of {', '.join(SCENARIOS)}).",
    )
    args = parser.parse_args()
    names = args.scenarios.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROCTOR_HOME"] = tmp
        folder = Path(tmp) / "suite"
        clock = time.perf_counter()
        asyncio.run(build_suite(folder, args.cases, names))
        print(
            f"built {args.cases} cases by capture ({', '.join(names)}) "
            f"in {time.perf_counter() - clock:.1f} s"
        )
        for recorded in (True, False):
            label = "recorded responses" if recorded else "live scripted models"
            rates, loads = [], []
            passed = 0
            for _ in range(args.runs):
                loaded, replayed, passed = asyncio.run(
                    replay(folder, recorded=recorded, concurrency=args.concurrency)
                )
                rates.append(args.cases / replayed)
                loads.append(args.cases / loaded)
            print(
                f"{label:>22}: {statistics.median(rates):7.0f} cases/s p50, "
                f"{max(rates):7.0f} best ({passed}/{args.cases} passed); "
                f"loading {statistics.median(loads):6.0f} cases/s"
            )


if __name__ == "__main__":
    main()
