"""Runs counted per bucket of time in one aggregate query: the reports' time series
(by hour over a day, by day over longer windows) without reading every run; and runs
summed per group by outcome, for the outcome report."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar

from proctor.store._outcomes import (
    COST_DIGITS,
    DAY_S,
    DurationCount,
    OutcomeGroup,
    RunOutcomes,
    check_group,
)
from proctor.store._records import RunBucket, RunFilter
from proctor.store._sql_base import SQLBase

_FINISHED = "r.status = 'finished'"
_PRICED = f"{_FINISHED} AND r.cost_usd IS NOT NULL"


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


_FIGURES = ", ".join(
    (
        "COUNT(*)",
        _count(_FINISHED),
        *(_count(f"{_FINISHED} AND r.outcome = '{o}'") for o in ("resolved", "escalated")),
        *(_count(f"{_FINISHED} AND r.outcome = '{o}'") for o in ("draft_only", "failed")),
        f"SUM(CASE WHEN {_PRICED} THEN r.cost_usd ELSE 0 END)",
        _count(_PRICED),
        _count(f"{_PRICED} AND r.outcome = 'resolved'"),
    )
)


class SQLRunSeries(SQLBase):
    """``RunLog.run_buckets`` over the dialect hooks."""

    async def run_buckets(
        self, query: RunFilter, *, origin: float, width_s: float
    ) -> list[RunBucket]:
        if width_s <= 0:
            raise ValueError(f"a bucket must be longer than 0 s, not {width_s}")
        where, params = await self._run_filter(query)
        where = f"{where} {'AND' if where else 'WHERE'} r.started_at >= ?"
        bucket = self.dialect.whole.format("(r.started_at - ?) / ?")
        rows = await self._fetch(
            f"SELECT {bucket} AS bucket, {_FIGURES} FROM runs r {where} "
            "GROUP BY bucket ORDER BY bucket",
            (origin, width_s, *params, origin),
        )
        return [
            RunBucket(
                index=int(row[0]),
                runs=int(row[1]),
                finished=int(row[2] or 0),
                resolved=int(row[3] or 0),
                escalated=int(row[4] or 0),
                draft_only=int(row[5] or 0),
                failed=int(row[6] or 0),
                cost_usd=float(row[7] or 0.0),
                priced=int(row[8] or 0),
                priced_resolved=int(row[9] or 0),
            )
            for row in rows
        ]


class SQLRunOutcomes(SQLBase):
    """``RunLog.run_outcomes``, ``run_durations`` and ``escalation_triggers`` over the
    dialect hooks: one aggregate query and one grouped column read over the window's runs
    (by the covering index of migration 18), and one query over its escalations (by the
    partial index of migration 18, not the runs' every event). Where the store keeps the
    daily sums (``rollups``: SQLite, migration 19), the window's whole UTC days are read
    from them and only its first and last part-days from the runs."""

    rollups: ClassVar[bool] = False
    """Whether ``run_days`` and ``run_day_durations`` are kept (by triggers)."""

    def _keys(self, group_by: OutcomeGroup | None) -> str:
        check_group(group_by)
        day = self.dialect.whole.format(f"r.started_at / {DAY_S}")
        if group_by is None:
            return f"{day} AS d, CAST('' AS TEXT) AS k"  # PostgreSQL groups by no bare ''
        return f"{day} AS d, r.{_column(group_by)} AS k"

    async def run_outcomes(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[RunOutcomes]:
        check_group(group_by)
        scans, days = self._split(query)
        rows: list[Any] = []
        for scan in scans:
            where, params = await self._run_filter(scan)
            rows += await self._fetch(
                f"SELECT {self._keys(group_by)}, r.tool_calls AS c, MAX(r.started_at), "
                f"{_FIGURES} FROM runs r {where} GROUP BY d, k, c",
                params,
            )
        if days is not None:
            where, params = _cells_where(query, days)
            rows += await self._fetch(
                f"SELECT day, {_cell_key(group_by)}, tool_calls, "
                "MAX(CASE WHEN runs > 0 THEN newest END), SUM(runs), SUM(finished), "
                "SUM(resolved), SUM(escalated), SUM(draft_only), SUM(failed), SUM(cost_usd), "
                f"SUM(priced), SUM(priced_resolved) FROM run_days {where} "
                "GROUP BY 1, 2, 3 HAVING SUM(runs) > 0",
                params,
            )
        cells = [
            RunOutcomes(
                day=int(row[0]),
                key=str(row[1]),
                tool_calls=int(row[2]),
                newest=float(row[3]),
                runs=int(row[4]),
                finished=int(row[5] or 0),
                resolved=int(row[6] or 0),
                escalated=int(row[7] or 0),
                draft_only=int(row[8] or 0),
                failed=int(row[9] or 0),
                cost_usd=round(float(row[10] or 0.0), COST_DIGITS),
                priced=int(row[11] or 0),
                priced_resolved=int(row[12] or 0),
            )
            for row in rows
        ]
        return sorted(cells, key=lambda cell: (cell.day, cell.key, cell.tool_calls))

    async def run_durations(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[DurationCount]:
        check_group(group_by)
        scans, days = self._split(query)
        found: list[DurationCount] = []
        for scan in scans:
            where, params = await self._run_filter(scan)
            where = f"{where} {'AND' if where else 'WHERE'} {_FINISHED}"
            rows = await self._fetch(
                f"SELECT {self._keys(group_by)}, {self.dialect.rounded.format('r.duration_s')} "
                f"AS v, COUNT(*) FROM runs r {where} GROUP BY d, k, v",
                params,
            )
            found += [(int(r[0]), str(r[1]), float(r[2]), int(r[3])) for r in rows]
        if days is not None:
            where, params = _cells_where(query, days)
            rows = await self._fetch(
                f"SELECT day, {_cell_key(group_by)}, duration, SUM(runs) "
                f"FROM run_day_durations {where} GROUP BY 1, 2, 3 HAVING SUM(runs) > 0",
                params,
            )
            found += [(int(r[0]), str(r[1]), float(r[2]), int(r[3])) for r in rows]
        return sorted(found, key=lambda row: (row[2], row[0], row[1]))

    async def escalation_triggers(self, query: RunFilter) -> list[tuple[str, int]]:
        scans, days = self._split(query)
        rows: list[Any] = []
        trigger = self.dialect.json_text.format("e.meta", "trigger")
        # CROSS JOIN fixes SQLite's order: a window of many runs reads the escalations
        # first, then their runs; a part-day (beside daily sums) reads its few runs first,
        # then their escalations. The literal type (not a parameter) lets both planners
        # take the partial index.
        tables = "runs r CROSS JOIN events e" if days else "events e CROSS JOIN runs r"
        for scan in scans:
            where, params = await self._run_filter(scan)
            rows += await self._fetch(
                f"SELECT COALESCE({trigger}, 'unknown') AS t, COUNT(*), MIN(e.ts) "
                f"FROM {tables} {where} {'AND' if where else 'WHERE'} "
                "e.type = 'escalated' AND r.run_id = e.run_id GROUP BY t",
                params,
            )
        if days is not None:
            where, params = _cells_where(query, days)
            rows += await self._fetch(
                "SELECT reason, SUM(escalations), MIN(first_ts) FROM run_day_escalations "
                f"{where} GROUP BY reason",
                params,
            )
        counted: dict[str, tuple[int, float]] = {}
        for reason, count, first in rows:
            before = counted.get(reason, (0, math.inf))
            counted[reason] = (before[0] + int(count), min(before[1], float(first)))
        # Most first; of as many, the one that happened first.
        order = sorted(
            counted, key=lambda reason: (-counted[reason][0], counted[reason][1], reason)
        )
        return [(reason, counted[reason][0]) for reason in order]

    def _split(self, query: RunFilter) -> tuple[list[RunFilter], tuple[int, int] | None]:
        """The parts of ``query``'s window to scan, and the whole UTC days (first, end) to
        read from the daily sums instead; all of it scanned where no sums are kept, the
        query filters by more than a cell's columns and time, or it spans no whole day."""
        if not self.rollups or replace(query, **_KEPT) != _PLAIN:
            return [query], None
        first = -(2**40) if query.since is None else math.ceil(query.since / DAY_S)
        end = 2**40 if query.until is None else math.floor(query.until / DAY_S)
        if first >= end:
            return [query], None
        scans = []
        if query.since is not None and query.since < first * DAY_S:
            scans.append(replace(query, until=float(first * DAY_S)))
        if query.until is not None and end * DAY_S < query.until:
            scans.append(replace(query, since=float(end * DAY_S)))
        return scans, (first, end)


def _column(group_by: OutcomeGroup) -> str:
    return "contract_hash" if group_by == "contract" else group_by


def _cell_key(group_by: OutcomeGroup | None) -> str:
    return "CAST('' AS TEXT)" if group_by is None else _column(group_by)


def _cells_where(query: RunFilter, days: tuple[int, int]) -> tuple[str, list[Any]]:
    where, params = "WHERE day >= ? AND day < ?", [days[0], days[1]]
    for column in _CELL_FILTERS:
        value = getattr(query, column)
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value)
    return where, params


# The filters the daily sums can answer (a cell's own columns, and time): a query with any
# other is scanned.
_CELL_FILTERS = ("tenant", "workflow", "model", "contract_hash")
_PLAIN = RunFilter()
_KEPT: dict[str, Any] = dict.fromkeys((*_CELL_FILTERS, "since", "until")) | {
    "limit": _PLAIN.limit,
    "sort": _PLAIN.sort,
}
