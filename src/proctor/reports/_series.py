"""Runs over time: a window cut into hours (a day or less) or UTC days (longer), each
bucket counted by the store in one aggregate query, and every bucket of the window given,
the empty ones as zero runs, so a time axis has no holes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from proctor.store import RunBucket, RunFilter, Store

HOUR = 3600.0
DAY = 86_400.0
HOURLY_UP_TO = DAY
"""Windows up to this long are cut into hours; longer ones into days."""

Unit = Literal["hour", "day"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SeriesPoint:
    """The runs started in one hour or day (UTC)."""

    start: float
    label: str
    """Short, for an axis: ``14:00`` (an hour) or ``12-03`` (a day)."""
    title: str
    """In full: ``2026-12-03 14:00-15:00 UTC`` or ``2026-12-03 (UTC)``."""
    runs: int
    finished: int
    resolved: int
    escalated: int
    """Escalated or draft-only: handed back to a person."""
    failed: int
    cost_usd: float
    """Total cost of the finished runs whose cost is known."""
    cost_per_resolved: float | None
    """``None`` where no priced run resolved."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    """A window's runs, bucket by bucket."""

    unit: Unit
    points: list[SeriesPoint]
    """Every bucket of the window, oldest first."""


def series_unit(since: float, until: float) -> Unit:
    """``hour`` for a window of a day or less, else ``day``."""
    return "hour" if until - since <= HOURLY_UP_TO else "day"


async def run_series(
    store: Store, *, tenant: str, since: float, until: float, workflow: str | None = None
) -> Series:
    """``tenant``'s runs (of ``workflow``) started in ``[since, until)``, by hour or day."""
    unit = series_unit(since, until)
    width = HOUR if unit == "hour" else DAY
    origin = math.floor(since / width) * width  # UTC hours and days start on a multiple
    query = RunFilter(tenant=tenant, workflow=workflow, since=since, until=until)
    found = {b.index: b for b in await store.run_buckets(query, origin=origin, width_s=width)}
    count = max(1, math.ceil((until - origin) / width))
    return Series(
        unit=unit,
        points=[_point(origin + n * width, unit, found.get(n)) for n in range(count)],
    )


def _point(start: float, unit: Unit, bucket: RunBucket | None) -> SeriesPoint:
    moment = datetime.fromtimestamp(start, UTC)
    if unit == "hour":
        label = moment.strftime("%H:00")
        title = f"{moment:%Y-%m-%d %H:00}-{(moment.hour + 1) % 24:02d}:00 UTC"
    else:
        label, title = moment.strftime("%m-%d"), f"{moment:%Y-%m-%d} (UTC)"
    if bucket is None:
        return SeriesPoint(
            start=start,
            label=label,
            title=title,
            runs=0,
            finished=0,
            resolved=0,
            escalated=0,
            failed=0,
            cost_usd=0.0,
            cost_per_resolved=None,
        )
    return SeriesPoint(
        start=start,
        label=label,
        title=title,
        runs=bucket.runs,
        finished=bucket.finished,
        resolved=bucket.resolved,
        escalated=bucket.escalated + bucket.draft_only,
        failed=bucket.failed,
        cost_usd=bucket.cost_usd,
        cost_per_resolved=bucket.cost_usd / bucket.priced_resolved
        if bucket.priced_resolved
        else None,
    )
