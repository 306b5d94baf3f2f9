"""Runs counted per bucket of time in one aggregate query: the reports' time series
(by hour over a day, by day over longer windows) without reading every run; and runs
summed per group by outcome, for the outcome report."""

from __future__ import annotations

from proctor.store._outcomes import DAY_S, OutcomeGroup, RunOutcomes, check_group
from proctor.store._records import RunBucket, RunFilter
from proctor.store._rows import run_filter_sql
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
        where, params = run_filter_sql(query)
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
    dialect hooks: one aggregate query and one column read over the window's runs (by the
    covering index of migration 18), and one query over its escalations (by the partial
    index of migration 18, not the runs' every event)."""

    def _keys(self, group_by: OutcomeGroup | None) -> str:
        check_group(group_by)
        day = self.dialect.whole.format(f"r.started_at / {DAY_S}")
        if group_by is None:
            return f"{day} AS d, CAST('' AS TEXT) AS k"  # PostgreSQL groups by no bare ''
        return f"{day} AS d, r.{'contract_hash' if group_by == 'contract' else group_by} AS k"

    async def run_outcomes(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[RunOutcomes]:
        where, params = run_filter_sql(query, self.dialect.ilike)
        rows = await self._fetch(
            f"SELECT {self._keys(group_by)}, r.tool_calls AS c, MAX(r.started_at), "
            f"{_FIGURES} FROM runs r {where} GROUP BY d, k, c ORDER BY d, k, c",
            params,
        )
        return [
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
                cost_usd=float(row[10] or 0.0),
                priced=int(row[11] or 0),
                priced_resolved=int(row[12] or 0),
            )
            for row in rows
        ]

    async def run_durations(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[tuple[int, str, float]]:
        where, params = run_filter_sql(query, self.dialect.ilike)
        rows = await self._fetch(
            f"SELECT {self._keys(group_by)}, r.duration_s FROM runs r "
            f"{where} {'AND' if where else 'WHERE'} {_FINISHED} ORDER BY r.duration_s",
            params,
        )
        return [(int(row[0]), str(row[1]), float(row[2])) for row in rows]

    async def escalation_triggers(self, query: RunFilter) -> list[tuple[str, int]]:
        where, params = run_filter_sql(query, self.dialect.ilike)
        trigger = self.dialect.json_text.format("e.meta", "trigger")
        # The literal type (not a parameter) lets both planners take the partial index;
        # CROSS JOIN makes SQLite read the escalations first, then look their runs up.
        rows = await self._fetch(
            f"SELECT COALESCE({trigger}, 'unknown') AS t, COUNT(*) FROM events e "
            f"CROSS JOIN runs r {where} {'AND' if where else 'WHERE'} "
            "e.type = 'escalated' AND r.run_id = e.run_id "
            "GROUP BY t ORDER BY COUNT(*) DESC, MIN(e.ts), t",
            params,
        )
        return [(str(row[0]), int(row[1])) for row in rows]
