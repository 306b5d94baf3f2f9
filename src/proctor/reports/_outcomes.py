"""Reports by outcome: cost per resolved task, escalation rate, tool calls per run and run
latency, grouped by workflow, model, contract version or day, over a tenant's runs.

Figures count finished runs only (a run still going has no outcome yet). Escalations
include ``draft_only`` runs, as the drift report counts them: both hand the task back to a
person. Cost per resolved task is the cost of every priced run divided by the resolved
ones among them, so failures and escalations are paid for by the tasks that succeeded.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from proctor.store import RunFilter, RunRecord, Store

GroupBy = Literal["workflow", "model", "version", "day"]
GROUPINGS: tuple[GroupBy, ...] = ("workflow", "model", "version", "day")

_ALL = 10_000_000


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    """The figures of one group of runs (``key`` names it; ``all`` is the total)."""

    key: str
    runs: int
    """Runs started in the window, finished or not."""
    finished: int
    resolved: int
    escalated: int
    failed: int
    draft_only: int
    cost_usd: float
    """Total cost of the finished runs whose cost is known."""
    cost_per_resolved: float | None
    escalation_rate: float | None
    resolved_rate: float | None
    tool_calls_per_run: float | None
    latency_p50_s: float | None
    latency_p90_s: float | None
    latency_p99_s: float | None


@dataclass(frozen=True, kw_only=True)
class Report:
    """A tenant's runs started in ``[since, until)``, summed and grouped."""

    since: float
    until: float
    group_by: GroupBy
    workflow: str | None
    total: ReportRow
    rows: list[ReportRow]
    """One row per group, as ``group_by`` names them."""
    days: list[ReportRow]
    """One row per UTC day with runs, oldest first (the time series, whatever the grouping)."""
    escalations: list[tuple[str, int]]
    """Escalations by trigger (``budget_exceeded``, ``policy_violation``, ...), most first."""
    tool_calls: list[tuple[int, int]]
    """The distribution of tool calls per finished run: (calls, runs), ascending."""


async def build_report(
    store: Store,
    *,
    tenant: str,
    since: float,
    until: float,
    group_by: GroupBy = "day",
    workflow: str | None = None,
) -> Report:
    """The report over ``tenant``'s runs (of ``workflow``, if given) started in the window."""
    query = RunFilter(tenant=tenant, workflow=workflow, since=since, until=until, limit=_ALL)
    runs = await store.list_runs(query)
    days = _groups(runs, lambda run: day_of(run.started_at))
    groups = days if group_by == "day" else _groups(runs, await _grouping(store, group_by))
    # Days read oldest first (a time axis); other groupings by their number of runs.
    order = sorted(groups) if group_by == "day" else sorted(groups, key=lambda k: -len(groups[k]))
    escalated = await store.events_of_type("escalated", query)
    triggers = Counter(str(row.meta.get("trigger", "unknown")) for row in escalated)
    finished = [run for run in runs if run.status == "finished"]
    return Report(
        since=since,
        until=until,
        group_by=group_by,
        workflow=workflow,
        total=summarize("all", runs),
        rows=[summarize(name, groups[name]) for name in order],
        days=[summarize(day, days[day]) for day in sorted(days)],
        escalations=triggers.most_common(),
        tool_calls=sorted(Counter(run.tool_calls for run in finished).items()),
    )


def summarize(key: str, runs: Sequence[RunRecord]) -> ReportRow:
    """One row of figures over ``runs``."""
    finished = [run for run in runs if run.status == "finished"]
    outcomes = Counter(run.outcome for run in finished)
    priced = [run for run in finished if run.cost_usd is not None]
    cost = sum(run.cost_usd or 0.0 for run in priced)
    resolved_priced = sum(run.outcome == "resolved" for run in priced)
    durations = sorted(run.duration_s for run in finished)
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
        escalation_rate=_rate(handed_back, len(finished)),
        resolved_rate=_rate(outcomes["resolved"], len(finished)),
        tool_calls_per_run=_rate(sum(run.tool_calls for run in finished), len(finished)),
        latency_p50_s=percentile(durations, 0.50),
        latency_p90_s=percentile(durations, 0.90),
        latency_p99_s=percentile(durations, 0.99),
    )


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of ascending ``ordered`` values:
    always a value that occurred, never an interpolation between two runs."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def day_of(ts: float) -> str:
    """The UTC day of an epoch time, as ``YYYY-MM-DD``."""
    return _day_name(int(ts // 86_400))


@functools.lru_cache(maxsize=4096)
def _day_name(day: int) -> str:
    # Formatting a date costs more than the rest of a run's figures: once per day.
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")


def _groups(
    runs: Sequence[RunRecord], key: Callable[[RunRecord], str]
) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return groups


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


async def _grouping(store: Store, group_by: GroupBy) -> Callable[[RunRecord], str]:
    if group_by == "workflow":
        return lambda run: run.workflow
    if group_by == "model":
        return lambda run: run.model
    if group_by == "day":
        return lambda run: day_of(run.started_at)
    labels = {
        c.content_hash: f"{c.workflow} v{c.version} ({c.content_hash[:12]})"
        for c in await store.contracts()
    }
    return lambda run: labels.get(run.contract_hash, run.contract_hash[:12])
