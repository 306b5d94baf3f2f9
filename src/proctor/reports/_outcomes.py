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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from proctor.store import OutcomeGroup, RunFilter, RunOutcomes, Store

GroupBy = Literal["workflow", "model", "version", "day"]
GROUPINGS: tuple[GroupBy, ...] = ("workflow", "model", "version", "day")


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
    """The report over ``tenant``'s runs (of ``workflow``, if given) started in the window,
    summed by the store in a few aggregate queries (never read run by run)."""
    query = RunFilter(tenant=tenant, workflow=workflow, since=since, until=until)
    every = await store.run_outcomes(query)
    days = sorted(await store.run_outcomes(query, group_by="day"), key=lambda g: int(g.key))
    day_rows = [_row(_day_name(int(group.key)), group) for group in days]
    if group_by == "day":
        rows = day_rows
    else:
        name = await _namer(store, group_by)
        groups = await store.run_outcomes(query, group_by=_STORE_GROUPS[group_by])
        # By their number of runs; of as many, the one with the newest run first.
        groups.sort(key=lambda group: (-group.runs, -group.newest))
        rows = [_row(name(group.key), group) for group in groups]
    total = every[0] if every else _NONE
    return Report(
        since=since,
        until=until,
        group_by=group_by,
        workflow=workflow,
        total=_row("all", total),
        rows=rows,
        days=day_rows,
        escalations=await store.escalation_triggers(query),
        tool_calls=list(total.tool_call_counts),
    )


_STORE_GROUPS: dict[GroupBy, OutcomeGroup] = {
    "workflow": "workflow",
    "model": "model",
    "version": "contract",
    "day": "day",
}


_NONE = RunOutcomes(
    key="",
    runs=0,
    newest=0.0,
    finished=0,
    resolved=0,
    escalated=0,
    draft_only=0,
    failed=0,
    cost_usd=0.0,
    priced=0,
    priced_resolved=0,
    tool_calls=0,
    tool_call_counts=(),
    latency_s=(None, None, None),
)
"""The figures of no runs (the total of an empty window)."""


def _row(key: str, group: RunOutcomes) -> ReportRow:
    handed_back = group.escalated + group.draft_only
    p50, p90, p99 = group.latency_s
    return ReportRow(
        key=key,
        runs=group.runs,
        finished=group.finished,
        resolved=group.resolved,
        escalated=group.escalated,
        failed=group.failed,
        draft_only=group.draft_only,
        cost_usd=group.cost_usd,
        cost_per_resolved=(
            group.cost_usd / group.priced_resolved if group.priced_resolved else None
        ),
        escalation_rate=_rate(handed_back, group.finished),
        resolved_rate=_rate(group.resolved, group.finished),
        tool_calls_per_run=_rate(group.tool_calls, group.finished),
        latency_p50_s=p50,
        latency_p90_s=p90,
        latency_p99_s=p99,
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


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


async def _namer(store: Store, group_by: GroupBy) -> Callable[[str], str]:
    """How a group's key reads in the report (a contract hash as its version's label)."""
    if group_by != "version":
        return lambda key: key
    labels = {
        c.content_hash: f"{c.workflow} v{c.version} ({c.content_hash[:12]})"
        for c in await store.contracts()
    }
    return lambda key: labels.get(key, key[:12])
