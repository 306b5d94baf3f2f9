"""Batch export: past runs, read from the store, sent as the same spans live export sends.

Only finished runs are exported: a run's ``invoke_agent`` span ends at its finish, so an
unfinished run would be half a trace now and a duplicate later. Runs are chosen by when
they finished, so a periodic ``--since`` export misses none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from proctor.errors import NotFoundError, UsageError
from proctor.store import RunFilter, RunLog, RunRecord, row_to_event
from proctor.telemetry._mapping import spans_for_run
from proctor.telemetry._spans import SpanData

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_since(text: str, *, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` ago, or an ISO date/time (UTC if no zone)."""
    value = text.strip()
    age = _AGE.fullmatch(value)
    if age is not None:
        return (time.time() if now is None else now) - float(age[1]) * _UNITS[age[2]]
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither an age (7d, 12h, 30m) nor an ISO date "
            "(2025-06-01 or 2025-06-01T08:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True, kw_only=True)
class RunSelection:
    """The finished runs to export, and how many matching runs are still going."""

    runs: list[RunRecord]
    unfinished: int


async def select_runs(
    store: RunLog,
    *,
    since: float | None = None,
    run_id: str | None = None,
    workflow: str | None = None,
) -> RunSelection:
    """Finished runs that match, oldest first."""
    if run_id is not None:
        record = await store.get_run(run_id)
        if record is None:
            raise NotFoundError(f"no run {run_id!r} in this store; list runs with `proctor runs`")
        candidates = [record]
    else:
        candidates = await store.list_runs(RunFilter(workflow=workflow, limit=2**62))
    finished, unfinished = [], 0
    for record in candidates:
        if record.status != "finished":
            unfinished += 1
        elif since is None or (record.finished_at or record.updated_at) >= since:
            finished.append(record)
    finished.sort(key=lambda r: r.finished_at or r.updated_at)
    return RunSelection(runs=finished, unfinished=unfinished)


async def run_spans(
    store: RunLog, run_id: str, *, capture_content: bool = False, run: RunRecord | None = None
) -> list[SpanData]:
    """Every span of one stored run (``run``: its record, else read from the store)."""
    if run is None:
        run = await store.get_run(run_id)
    rows = await store.events(run_id)
    events = [row_to_event(row) for row in rows]
    return spans_for_run(events, capture_content=capture_content, run=run)


@dataclass(frozen=True, kw_only=True)
class ExportReport:
    """What a batch export sent."""

    runs: int
    spans: int
    unfinished: int
    """Matching runs not exported because they have not finished."""


async def export_runs(
    store: RunLog,
    send: Callable[[list[SpanData]], None],
    selection: RunSelection,
    *,
    capture_content: bool = False,
    progress: Callable[[RunRecord, int], None] | None = None,
) -> ExportReport:
    """Send the spans of each selected run through ``send`` (which raises on failure).

    ``progress`` hears of each run once it is sent, with its number of spans.
    """
    total = 0
    for record in selection.runs:
        spans = await run_spans(store, record.run_id, capture_content=capture_content, run=record)
        send(spans)
        total += len(spans)
        if progress is not None:
            progress(record, len(spans))
    return ExportReport(runs=len(selection.runs), spans=total, unfinished=selection.unfinished)
