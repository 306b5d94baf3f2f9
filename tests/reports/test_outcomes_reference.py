"""The outcome report summed by the store (``build_report``) equals the report summed
run by run in Python (the reference below: how Proctor computed it before the store
aggregated), on every backend, for every grouping, over runs that exercise each figure."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from proctor.contracts import Contract, load_contract
from proctor.reports import GROUPINGS, GroupBy, Report, ReportRow, build_report
from proctor.reports._outcomes import day_of, percentile
from proctor.store import (
    COST_DIGITS,
    EscalationTrigger,
    Outcome,
    RunFilter,
    RunRecord,
    Store,
    round_duration,
)
from support.drift_runs import DAY, record_run

NOW = 1_796_083_200.0 + 13 * 3600.0  # 2026-12-01 13:00 UTC
EVERY_BACKEND = pytest.mark.parametrize("store", ["sqlite", "postgres", "memory"], indirect=True)


async def reference_report(
    store: Store, *, tenant: str, since: float, until: float, group_by: GroupBy
) -> Report:
    """The report as Proctor built it before the store summed it: every run read."""
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
    # Latency percentiles are of durations to two significant digits (the daily sums').
    durations = sorted(round_duration(run.duration_s) for run in finished)
    handed_back = outcomes["escalated"] + outcomes["draft_only"]
    return ReportRow(
        key=key,
        runs=len(runs),
        finished=len(finished),
        resolved=outcomes["resolved"],
        escalated=outcomes["escalated"],
        failed=outcomes["failed"],
        draft_only=outcomes["draft_only"],
        cost_usd=cost,
        cost_per_resolved=cost / resolved_priced if resolved_priced else None,
        escalation_rate=handed_back / len(finished) if finished else None,
        resolved_rate=outcomes["resolved"] / len(finished) if finished else None,
        tool_calls_per_run=(
            sum(run.tool_calls for run in finished) / len(finished) if finished else None
        ),
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


def _contract(folder: Path, version: str) -> Contract:
    path = folder / f"v{version}.yaml"
    path.write_text(f'workflow: refunds\nversion: "{version}"\n', encoding="utf-8")
    return load_contract(path)


OUTCOMES: tuple[Outcome | None, ...] = (
    "resolved",
    "resolved",
    "escalated",
    "failed",
    "draft_only",
    None,
    "resolved",
)
TRIGGERS: tuple[EscalationTrigger, ...] = ("policy_violation", "budget_exceeded")


async def seed(store: Store, folder: Path) -> None:
    """37 runs over four UTC days, two contract versions, two workflows, three models, an
    unfinished run every seventh, runs without cost, and others' runs out of the window."""
    contracts = [_contract(folder, "1"), _contract(folder, "2")]
    for n in range(37):
        outcome = OUTCOMES[n % len(OUTCOMES)]
        trigger = TRIGGERS[n % 2] if outcome in ("escalated", "draft_only") or n % 11 == 0 else None
        await record_run(
            store,
            contracts[n % 3 == 0],
            started_at=NOW - (n % 4) * DAY - n * 61.0,
            outcome=outcome,
            # Costs in 1/64ths add up exactly in any order, so sums compare exactly.
            cost=None if n % 5 == 0 else (n % 9) / 64,
            tools=["t"] * (n % 4),
            duration_s=float(n % 6) + (n % 3) / 4,
            model=("cheap", "strong", "mid")[n % 3],
            workflow=("refunds", "billing")[n % 5 == 1],
            trigger=trigger,
        )
    await record_run(store, contracts[0], started_at=NOW - 100, tenant="globex")
    await record_run(store, contracts[0], started_at=NOW - 40 * DAY)  # out of the window


@EVERY_BACKEND
@pytest.mark.parametrize("group_by", GROUPINGS)
async def test_the_store_sums_the_report_as_python_did(
    store: Store, tmp_path: Path, group_by: GroupBy
) -> None:
    await seed(store, tmp_path)
    window = {"tenant": "default", "since": NOW - 30 * DAY, "until": NOW + 1.0}
    built = await build_report(store, group_by=group_by, **window)  # type: ignore[arg-type]
    expected = await reference_report(store, group_by=group_by, **window)  # type: ignore[arg-type]
    assert built == expected
    assert built.total.finished < built.total.runs  # the seeded runs exercise every figure
    assert built.total.draft_only
    assert built.total.cost_per_resolved
    assert len(built.days) == 4
    assert len(built.escalations) == 2


@EVERY_BACKEND
async def test_an_empty_window_reports_nothing(store: Store, tmp_path: Path) -> None:
    await seed(store, tmp_path)
    window = {"tenant": "nobody", "since": NOW - DAY, "until": NOW}
    built = await build_report(store, group_by="model", **window)  # type: ignore[arg-type]
    assert built == await reference_report(store, group_by="model", **window)  # type: ignore[arg-type]
    assert (built.rows, built.days, built.escalations, built.tool_calls) == ([], [], [], [])
    assert built.total.runs == 0
    assert built.total.latency_p50_s is None
