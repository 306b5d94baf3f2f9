"""``/api/v1/reports`` and ``/api/v1/evals``: outcome reports and stored eval results."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from proctor.errors import UsageError
from proctor.reports import GroupBy, Report, ReportRow, Series, run_series
from proctor.server._api_deps import Auth, ResultId, Svc, errors, text_query
from proctor.server._api_query import parse_time
from proctor.server._schemas import (
    EscalationCount,
    EvalDetail,
    EvalList,
    EvalSummary,
    ReportOut,
    ReportRowOut,
    SeriesPointOut,
    ToolCallCount,
)
from proctor.store import iso_time

router = APIRouter(prefix="/api/v1")


def _row(row: ReportRow) -> ReportRowOut:
    return ReportRowOut.model_validate(row, from_attributes=True)


def report_out(report: Report, series: Series) -> ReportOut:
    """A report (and its window's series) as the API answers it."""
    return ReportOut(
        since=iso_time(report.since),
        until=iso_time(report.until),
        group_by=report.group_by,
        workflow=report.workflow,
        total=_row(report.total),
        rows=[_row(row) for row in report.rows],
        days=[_row(row) for row in report.days],
        escalations=[EscalationCount(trigger=t, count=n) for t, n in report.escalations],
        tool_calls=[ToolCallCount(tool_calls=c, runs=n) for c, n in report.tool_calls],
        series_unit=series.unit,
        series=[
            SeriesPointOut(
                start=iso_time(p.start),
                label=p.label,
                runs=p.runs,
                finished=p.finished,
                resolved=p.resolved,
                escalated=p.escalated,
                failed=p.failed,
                cost_usd=p.cost_usd,
                cost_per_resolved=p.cost_per_resolved,
            )
            for p in series.points
        ],
    )


@router.get("/reports", tags=["reports"], responses=errors())
async def report(
    principal: Auth,
    service: Svc,
    since: Annotated[
        str, text_query("Runs started at or after: an age (7d, 24h), ISO 8601 or epoch.")
    ] = "7d",
    until: Annotated[
        str | None, text_query("Runs started before (default: now); same forms.")
    ] = None,
    group_by: Annotated[GroupBy, Query(description="Rows per workflow, model, version or day.")] = (
        "day"
    ),
    workflow: Annotated[str | None, text_query("Only runs of this workflow.")] = None,
) -> ReportOut:
    """Outcomes of the tenant's runs: cost per resolved task, escalation and resolution
    rates, tool calls per run, latency percentiles, escalations by trigger, and the runs
    by hour (a window of a day or less) or by day."""
    now = time.time()
    start = parse_time("since", since, now=now)
    end = now if until is None else parse_time("until", until, now=now)
    if start >= end:
        raise UsageError(
            f"since ({iso_time(start)}) is not before until ({iso_time(end)}). "
            "Fix: give an earlier since, or a later until"
        )
    found = await service.report(
        principal, since=start, until=end, group_by=group_by, workflow=workflow
    )
    series = await run_series(
        service.store, tenant=principal.tenant, since=start, until=end, workflow=workflow
    )
    return report_out(found, series)


@router.get("/evals", tags=["evals"], responses=errors())
async def eval_results(
    principal: Auth,
    service: Svc,
    suite: Annotated[str | None, text_query("Only results of this suite.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 50,
) -> EvalList:
    """The tenant's stored eval results (each ``proctor eval run`` keeps one), newest first."""
    found = await service.eval_results(principal, suite=suite, limit=limit)
    return EvalList(results=[EvalSummary.of(record) for record in found])


@router.get("/evals/{result_id}", tags=["evals"], responses=errors(404))
async def eval_result(result_id: ResultId, principal: Auth, service: Svc) -> EvalDetail:
    """One stored eval result: its summary and the suite result itself."""
    return EvalDetail.of(await service.eval_result(principal, result_id))
