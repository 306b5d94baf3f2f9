"""The 30-day outcome report over a large store: before (every run read and summed in
Python, every escalated event read) and after (``build_report``: the whole days from the
daily sums SQLite's triggers keep, the part-days and escalations by aggregate queries).

Builds a SQLite store of ``--runs`` runs (default 200,000) spread over 30 days, nine in
ten in tenant ``default``, over three workflows, three models and two contract versions,
with ``--events`` events per run (default 19, as issue 21's million runs had 19.3
million) and one ``escalated`` event per escalated or draft-only run; rows are inserted
directly in one transaction (the chains link, but hold no real content). Then times the
report for tenant ``default`` over the last 30 days, both ways in one process, and checks
they are equal (costs are multiples of 1/64, so sums do not depend on their order; the
latency percentiles of both are of durations to two significant digits).
Prints the median and p90 of ``--repeats`` builds per grouping; asserts nothing.

    python benchmarks/report_scale.py [--runs 200000] [--events 19] [--repeats 3] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

import orjson

from proctor.reports import GROUPINGS, GroupBy, Report, ReportRow, build_report
from proctor.reports._outcomes import day_of, percentile
from proctor.store import (
    COST_DIGITS,
    RunFilter,
    RunRecord,
    SQLiteStore,
    Store,
    round_duration,
)

DAY = 86_400.0
COLUMNS = [f.name for f in fields(RunRecord)]
EVENT_COLUMNS = ["run_id", "seq", "type", "ts", "trace_id", "span_id", "meta"]
EVENT_COLUMNS += ["content_digest", "prev_hash", "hash"]
OUTCOMES: list[str | None] = [*["resolved"] * 70, *["failed"] * 10, *["escalated"] * 8]
OUTCOMES += ["draft_only"] * 4 + [None] * 8  # None: still running
TRIGGERS = ["budget_exceeded", "policy_violation", "tool_error", "approval_expired"]


def build(count: int, per_run: int, now: float) -> tuple[list[tuple[Any, ...]], list[Any]]:
    rng = random.Random(21)
    runs: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for n in range(count):
        run_id = f"run_{n:016x}"
        started = now - 30 * DAY + (n + rng.random()) * (30 * DAY / count)
        outcome = rng.choice(OUTCOMES)
        tools = rng.randrange(8)
        duration = rng.randrange(1, 4000) / 16
        record = RunRecord(
            run_id=run_id,
            workflow=("refunds", "billing", "invoices")[n % 3],
            model=("cheap", "strong", "mid")[rng.randrange(3)],
            contract_name="refunds",
            contract_hash=("a" if n % 4 else "b") * 64,
            trace_id="t" * 32,
            started_at=started,
            status="running" if outcome is None else "finished",
            outcome=outcome,  # type: ignore[arg-type]
            updated_at=started + duration,
            finished_at=None if outcome is None else started + duration,
            tool_calls=tools,
            cost_usd=None if rng.random() < 0.1 else rng.randrange(64) / 64,
            duration_s=0.0 if outcome is None else duration,
            last_seq=per_run - 1,
            tenant="default" if n % 10 else "globex",
        )
        runs.append(astuple(record))
        escalated = outcome in ("escalated", "draft_only")
        prev = ""
        for seq in range(per_run):
            kind = "escalated" if escalated and seq == per_run - 2 else "step"
            meta = {"trigger": rng.choice(TRIGGERS)} if kind == "escalated" else {}
            digest = f"{n}:{seq}"
            data = orjson.dumps(meta).decode()
            events.append((run_id, seq, kind, started + seq, "t" * 32, "s", data, "", prev, digest))
            prev = digest
    return runs, events


async def fill(store: SQLiteStore, runs: list[Any], events: list[Any]) -> None:
    await store.list_runs(RunFilter(limit=1))  # migrated
    db = store._db
    db.execute("BEGIN")
    db.executemany(
        f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
        runs,
    )
    db.executemany(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})",
        events,
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")


async def before(
    store: Store, *, tenant: str, since: float, until: float, group_by: GroupBy
) -> Report:
    """The report as Proctor built it before issue 21: every run read, summed in Python."""
    query = RunFilter(tenant=tenant, since=since, until=until, limit=10_000_000)
    runs = await store.list_runs(query)
    days = _groups(runs, lambda run: day_of(run.started_at))
    if group_by == "day":
        groups = days
    elif group_by == "version":
        labels = {
            c.content_hash: f"{c.workflow} v{c.version} ({c.content_hash[:12]})"
            for c in await store.contracts()
        }
        groups = _groups(runs, lambda run: labels.get(run.contract_hash, run.contract_hash[:12]))
    else:
        groups = _groups(runs, lambda run: str(getattr(run, group_by)))
    order = sorted(groups) if group_by == "day" else sorted(groups, key=lambda k: -len(groups[k]))
    escalated = await store.events_of_type("escalated", query)
    triggers = Counter(str(row.meta.get("trigger", "unknown")) for row in escalated)
    finished = [run for run in runs if run.status == "finished"]
    return Report(
        since=since,
        until=until,
        group_by=group_by,
        workflow=None,
        total=_summarize("all", runs),
        rows=[_summarize(name, groups[name]) for name in order],
        days=[_summarize(day, days[day]) for day in sorted(days)],
        escalations=triggers.most_common(),
        tool_calls=sorted(Counter(run.tool_calls for run in finished).items()),
    )


def _summarize(key: str, runs: Sequence[RunRecord]) -> ReportRow:
    finished = [run for run in runs if run.status == "finished"]
    outcomes = Counter(run.outcome for run in finished)
    priced = [run for run in finished if run.cost_usd is not None]
    cost = round(sum(run.cost_usd or 0.0 for run in priced), COST_DIGITS)
    resolved_priced = sum(run.outcome == "resolved" for run in priced)
    # Percentiles of durations to two significant digits, as the report gives them.
    durations = sorted(round_duration(run.duration_s) for run in finished)
    n = len(finished)
    return ReportRow(
        key=key,
        runs=len(runs),
        finished=n,
        resolved=outcomes["resolved"],
        escalated=outcomes["escalated"],
        failed=outcomes["failed"],
        draft_only=outcomes["draft_only"],
        cost_usd=cost,
        cost_per_resolved=cost / resolved_priced if resolved_priced else None,
        escalation_rate=(outcomes["escalated"] + outcomes["draft_only"]) / n if n else None,
        resolved_rate=outcomes["resolved"] / n if n else None,
        tool_calls_per_run=sum(run.tool_calls for run in finished) / n if n else None,
        latency_p50_s=percentile(durations, 0.50),
        latency_p90_s=percentile(durations, 0.90),
        latency_p99_s=percentile(durations, 0.99),
    )


def _groups(
    runs: Sequence[RunRecord], key: Callable[[RunRecord], str]
) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return groups


async def timed(
    repeats: int, build_one: Callable[[], Awaitable[Report]]
) -> tuple[float, float, Report]:
    times: list[float] = []
    report: Report | None = None
    for _ in range(repeats):
        start = time.perf_counter()
        report = await build_one()
        times.append((time.perf_counter() - start) * 1000)
    assert report is not None
    ordered = sorted(times)
    return statistics.median(times), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=19)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the SQLite store here (reused if there)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="proctor-report-")
    path = args.keep or Path(folder.name) / "store.db"
    now = 1_796_083_200.0  # 2026-12-01 00:00 UTC: the window is fixed, the store reusable
    store = SQLiteStore(path)
    try:
        if not path.exists() or not await store.list_runs(RunFilter(limit=1)):
            start = time.perf_counter()
            runs, events = build(args.runs, args.events, now)
            await fill(store, runs, events)
            print(
                f"built {len(runs):,} runs, {len(events):,} events in "
                f"{time.perf_counter() - start:.0f} s ({path.stat().st_size / 1e6:.0f} MB)"
            )
        since, until = now - 30 * DAY, now + 1
        print(
            "| 30-day report, tenant default | before p50 ms | p90 ms | after p50 ms | p90 ms "
            "| equal |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for group_by in GROUPINGS:
            old = await timed(
                args.repeats,
                functools.partial(
                    before, store, tenant="default", since=since, until=until, group_by=group_by
                ),
            )
            new = await timed(
                args.repeats,
                functools.partial(
                    build_report,
                    store,
                    tenant="default",
                    since=since,
                    until=until,
                    group_by=group_by,
                ),
            )
            print(
                f"| by {group_by} ({old[2].total.runs:,} runs) | {old[0]:,.0f} | {old[1]:,.0f} "
                f"| {new[0]:,.1f} | {new[1]:,.1f} | {old[2] == new[2]} |"
            )
    finally:
        await store.close()
        folder.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
