"""Runs counted per bucket of time in one aggregate query: the reports' time series
(by hour over a day, by day over longer windows) without reading every run."""

from __future__ import annotations

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
