"""The reports page: runs and cost per resolved task over time (by hour over the last day,
by day over longer windows, counted by the store), escalations by trigger, tool calls per
run, and a table by workflow, model, contract version or day, over a recent window."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proctor.errors import UsageError
from proctor.reports import GROUPINGS, GroupBy, Series, build_report, run_series
from proctor.server._appstate import state_of
from proctor.server._charts import bars, columns
from proctor.server._keys import Principal
from proctor.server._ui_base import guarded, render
from proctor.server._ui_format import money

router = APIRouter(include_in_schema=False)

WINDOWS: dict[str, tuple[str, float]] = {
    "24h": ("last 24 hours", 86400.0),
    "7d": ("last 7 days", 7 * 86400.0),
    "30d": ("last 30 days", 30 * 86400.0),
}
_HISTOGRAM_BARS = 40


@router.get("/reports")
async def reports_page(request: Request) -> Response:
    return await guarded(request, lambda principal: _reports(request, principal))


async def _reports(request: Request, principal: Principal) -> Response:
    principal.require("read")
    params = request.query_params
    window = params.get("since", "7d")
    group_by = params.get("group_by", "workflow")
    workflow = params.get("workflow", "").strip() or None
    if window not in WINDOWS:
        raise UsageError(f"unknown period {window!r}: use 24h, 7d or 30d")
    if group_by not in GROUPINGS:
        raise UsageError(f"unknown grouping {group_by!r}: use {', '.join(GROUPINGS)}")
    grouping: GroupBy = group_by  # narrowed by the check above
    store = state_of(request).service.store
    until = time.time()
    since = until - WINDOWS[window][1]
    grouped = await build_report(
        store,
        tenant=principal.tenant,
        since=since,
        until=until,
        group_by=grouping,
        workflow=workflow,
    )
    series = await run_series(
        store, tenant=principal.tenant, since=since, until=until, workflow=workflow
    )
    per = series.unit  # "hour" or "day"
    titles = [point.title for point in series.points]
    context: dict[str, Any] = {
        "report": grouped,
        "per": per,
        "window": window,
        "windows": [(key, label) for key, (label, _) in WINDOWS.items()],
        "group_by": grouping,
        "groupings": GROUPINGS,
        "workflow": workflow or "",
        "runs_chart": columns(
            "runs-started",
            [(point.label, float(point.runs)) for point in series.points],
            title=f"Runs started, by {per} (UTC)",
            fmt=_whole,
            axis=_count_axis,
            titles=titles,
        ),
        "cost_chart": columns(
            "cost-per-resolved",
            _cost_points(series),
            title=f"Cost per resolved task, by {per} (UTC)",
            fmt=money,
            axis=_axis_money,
            empty="runs, none resolved",
            titles=titles,
        ),
        "escalation_chart": bars(
            "escalations",
            [(trigger.replace("_", " "), float(n)) for trigger, n in grouped.escalations],
            title="Escalations by trigger",
            fmt=_whole,
            empty="no escalations in this period",
        ),
        "tool_chart": columns(
            "tool-calls",
            _histogram(grouped.tool_calls),
            title="Tool calls per finished run (bars: number of runs)",
            fmt=_whole,
            axis=_count_axis,
            empty="no finished runs",
        ),
    }
    return await render(request, principal, "reports.html", context, nav="reports")


def _cost_points(series: Series) -> list[tuple[str, float | None]]:
    """Cost per resolved task of each hour or day: zero where no run started, a gap where
    runs spent but none resolved."""
    return [
        (point.label, 0.0 if point.runs == 0 else point.cost_per_resolved)
        for point in series.points
    ]


def _histogram(counts: list[tuple[int, int]]) -> list[tuple[str, float | None]]:
    """Runs by tool calls, with the empty counts between filled in (a histogram's gaps
    are data), unless that would draw more than ``_HISTOGRAM_BARS`` bars."""
    if not counts:
        return []
    low, high = counts[0][0], counts[-1][0]
    if high - low + 1 > _HISTOGRAM_BARS:
        return [(str(calls), float(runs)) for calls, runs in counts]
    known = dict(counts)
    return [(str(calls), float(known.get(calls, 0))) for calls in range(low, high + 1)]


def _axis_money(value: float) -> str:
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.2g}" if value else "$0"


def _count_axis(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


def _whole(value: float) -> str:
    return f"{value:,.0f}"
