"""Runs counted per bucket of time in one aggregate query: the reports' time series
(by hour over a day, by day over longer windows) without reading every run; and runs
summed per group by outcome, for the outcome report."""

from __future__ import annotations

from proctor.store._outcomes import (
    DAY_S,
    OUTCOME_GROUPS,
    QUANTILES,
    OutcomeGroup,
    RunOutcomes,
    nearest_rank,
)
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


_SUMS = ", ".join(
    (
        "MAX(r.started_at)",
        _FIGURES,
        f"SUM(CASE WHEN {_FINISHED} THEN r.tool_calls ELSE 0 END)",
    )
)


class SQLRunOutcomes(SQLBase):
    """``RunLog.run_outcomes`` and ``escalation_triggers`` over the dialect hooks: three
    aggregate queries over the window's runs, and one over its escalations (by the
    partial index of migration 18, not the runs' every event)."""

    def _group_sql(self, group_by: OutcomeGroup | None) -> str:
        if group_by is None:
            return "CAST('' AS TEXT)"  # PostgreSQL groups by no bare constant
        if group_by == "day":
            return self.dialect.whole.format(f"r.started_at / {DAY_S}")
        if group_by not in OUTCOME_GROUPS:
            raise ValueError(f"runs group by one of {', '.join(OUTCOME_GROUPS)}, not {group_by!r}")
        return "r.contract_hash" if group_by == "contract" else f"r.{group_by}"

    def _rank_sql(self, q: float) -> str:
        # ceil(q * n) in floating point, as Python computes it: the same value at every
        # rank; SQLite has no CEIL everywhere, so it is the whole part, plus one if short.
        x = f"(CAST({q!r} AS DOUBLE PRECISION) * t.n)"
        whole = self.dialect.whole.format(x)
        return f"({whole} + CASE WHEN {x} > {whole} THEN 1 ELSE 0 END)"

    async def run_outcomes(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[RunOutcomes]:
        key = self._group_sql(group_by)
        where, params = run_filter_sql(query, self.dialect.ilike)
        finished = f"{where} {'AND' if where else 'WHERE'} {_FINISHED}"
        sums = await self._fetch(
            f"SELECT {key} AS k, {_SUMS} FROM runs r {where} GROUP BY k", params
        )
        counts: dict[str, list[tuple[int, int]]] = {}
        for row in await self._fetch(
            f"SELECT {key} AS k, r.tool_calls, COUNT(*) FROM runs r {finished} "
            "GROUP BY k, r.tool_calls ORDER BY k, r.tool_calls",
            params,
        ):
            counts.setdefault(str(row[0]), []).append((int(row[1]), int(row[2])))
        ranks = " OR ".join(f"t.i = {self._rank_sql(q)}" for q in QUANTILES)
        latency: dict[str, dict[int, float]] = {}
        for row in await self._fetch(
            f"SELECT t.k, t.n, t.i, t.d FROM (SELECT {key} AS k, r.duration_s AS d, "
            f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY r.duration_s) AS i, "
            f"COUNT(*) OVER (PARTITION BY {key}) AS n FROM runs r {finished}) t "
            f"WHERE {ranks}",
            params,
        ):
            latency.setdefault(str(row[0]), {})[int(row[2])] = float(row[3])
        found = []
        for row in sums:
            name = str(row[0])
            n = int(row[3] or 0)
            at = latency.get(name, {})
            found.append(
                RunOutcomes(
                    key=name,
                    runs=int(row[2]),
                    newest=float(row[1]),
                    finished=n,
                    resolved=int(row[4] or 0),
                    escalated=int(row[5] or 0),
                    draft_only=int(row[6] or 0),
                    failed=int(row[7] or 0),
                    cost_usd=float(row[8] or 0.0),
                    priced=int(row[9] or 0),
                    priced_resolved=int(row[10] or 0),
                    tool_calls=int(row[11] or 0),
                    tool_call_counts=tuple(counts.get(name, ())),
                    latency_s=tuple(at[nearest_rank(n, q)] if n else None for q in QUANTILES),
                )
            )
        return sorted(found, key=lambda group: group.key)

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
