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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from proctor.store import COST_DIGITS, OutcomeGroup, RunFilter, RunOutcomes, Store

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
    """The report over ``tenant``'s runs (of ``workflow``, if given) started in the window:
    the store sums them per day and group (one aggregate query), reads the finished runs'
    durations (one column) and counts escalations; this adds the few cells up."""
    query = RunFilter(tenant=tenant, workflow=workflow, since=since, until=until)
    by = None if group_by == "day" else _STORE_GROUPS[group_by]
    total = _Sums()
    days: dict[int, _Sums] = defaultdict(_Sums)
    groups: dict[str, _Sums] = defaultdict(_Sums)
    tool_calls: Counter[int] = Counter()
    for cell in await store.run_outcomes(query, group_by=by):
        for sums in (total, days[cell.day], groups[cell.key]):
            sums.add(cell)
        if cell.finished:
            tool_calls[cell.tool_calls] += cell.finished
    for day, key, duration, runs in await store.run_durations(query, group_by=by):  # ascending
        for sums in (total, days[day], groups[key]):
            sums.durations.append((duration, runs))
    day_rows = [days[day].row(_day_name(day)) for day in sorted(days)]
    if group_by == "day":
        rows = day_rows
    else:
        name = await _namer(store, group_by)
        # By their number of runs; of as many, the one with the newest run first.
        order = sorted(groups, key=lambda key: (-groups[key].runs, -groups[key].newest))
        rows = [groups[key].row(name(key)) for key in order]
    return Report(
        since=since,
        until=until,
        group_by=group_by,
        workflow=workflow,
        total=total.row("all"),
        rows=rows,
        days=day_rows,
        escalations=await store.escalation_triggers(query),
        tool_calls=sorted(tool_calls.items()),
    )


_STORE_GROUPS: dict[GroupBy, OutcomeGroup] = {
    "workflow": "workflow",
    "model": "model",
    "version": "contract",
}


@dataclass
class _Sums:
    """A group's cells added up, and its finished runs' durations (ascending, each with
    how many runs took it)."""

    runs: int = 0
    newest: float = -math.inf
    finished: int = 0
    resolved: int = 0
    escalated: int = 0
    draft_only: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    priced_resolved: int = 0
    tool_calls: int = 0
    durations: list[tuple[float, int]] = field(default_factory=list)

    def add(self, cell: RunOutcomes) -> None:
        self.runs += cell.runs
        self.newest = max(self.newest, cell.newest)
        self.finished += cell.finished
        self.resolved += cell.resolved
        self.escalated += cell.escalated
        self.draft_only += cell.draft_only
        self.failed += cell.failed
        self.cost_usd += cell.cost_usd
        self.priced_resolved += cell.priced_resolved
        self.tool_calls += cell.tool_calls * cell.finished

    def row(self, key: str) -> ReportRow:
        handed_back = self.escalated + self.draft_only
        return ReportRow(
            key=key,
            runs=self.runs,
            finished=self.finished,
            resolved=self.resolved,
            escalated=self.escalated,
            failed=self.failed,
            draft_only=self.draft_only,
            cost_usd=round(self.cost_usd, COST_DIGITS),
            cost_per_resolved=(
                self.cost_usd / self.priced_resolved if self.priced_resolved else None
            ),
            escalation_rate=_rate(handed_back, self.finished),
            resolved_rate=_rate(self.resolved, self.finished),
            tool_calls_per_run=_rate(self.tool_calls, self.finished),
            latency_p50_s=counted_percentile(self.durations, 0.50),
            latency_p90_s=counted_percentile(self.durations, 0.90),
            latency_p99_s=counted_percentile(self.durations, 0.99),
        )


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of ascending ``ordered`` values:
    always a value that occurred, never an interpolation between two runs."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def counted_percentile(counted: Sequence[tuple[float, int]], q: float) -> float | None:
    """``percentile`` of ascending values each given with how often it occurred."""
    total = sum(runs for _, runs in counted)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    for value, runs in counted:
        rank -= runs
        if rank <= 0:
            return value
    return counted[-1][0]


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
