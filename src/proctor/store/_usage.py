"""Spend of the gateway endpoint from its call ledger, by key, route, model and day.

The SQL stores aggregate in the database (``usage_sql``: one ``GROUP BY`` over the
``gateway_calls`` rows of the period); ``MemoryStore`` folds its rows with ``fold_usage``.
Both order the rows with ``ordered``, so every backend answers alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from proctor.errors import UsageError
from proctor.store._records import GatewayCallRecord

UsageDimension = Literal["key", "route", "model", "day"]
USAGE_DIMENSIONS: tuple[UsageDimension, ...] = get_args(UsageDimension)
DAY_S = 86_400


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayUsage:
    """The calls of one group: a key, route, model and/or day (``None``: not grouped by it).

    ``model`` is ``""`` for calls no model answered (refused, or every deployment
    failed); ``day`` is the UTC date, ``YYYY-MM-DD``.
    """

    key_name: str | None = None
    route: str | None = None
    model: str | None = None
    day: str | None = None
    calls: int = 0
    errors: int = 0
    """Calls answered with an HTTP status of 400 or more."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    """Of the input tokens, those read from the providers' prompt caches."""
    reasoning_tokens: int = 0
    """Of the output tokens, those spent reasoning."""
    cost_usd: float = 0.0
    """Known costs only: see ``unpriced``."""
    unpriced: int = 0
    """Answered calls whose cost is unknown (a model without a price)."""
    cache_hits: int = 0


def check_usage_dimensions(by: Sequence[str]) -> tuple[UsageDimension, ...]:
    """``by`` without repeats, refused (``UsageError``) if it names another dimension."""
    wrong = [name for name in by if name not in USAGE_DIMENSIONS]
    if wrong:
        raise UsageError(
            f"cannot group gateway usage by {', '.join(map(repr, wrong))}: use "
            f"{', '.join(USAGE_DIMENSIONS)}"
        )
    return tuple(dict.fromkeys(name for name in by if name in USAGE_DIMENSIONS))


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


# The UTC day number of ``ts``, floored the same way by SQLite (whose CAST truncates) and
# PostgreSQL (whose CAST rounds): no dialect hook needed.
_DAY = (
    f"CAST(ts / {DAY_S} AS INTEGER) - "
    f"CASE WHEN CAST(ts / {DAY_S} AS INTEGER) > ts / {DAY_S} THEN 1 ELSE 0 END"
)
_COLUMNS: dict[UsageDimension, str] = {
    "key": "key_name",
    "route": "route",
    "model": "COALESCE(model, '')",
    "day": _DAY,
}
_FIGURES = (
    "COUNT(*)",
    "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
    "SUM(input_tokens)",
    "SUM(output_tokens)",
    "SUM(cached_input_tokens)",
    "SUM(reasoning_tokens)",
    "COALESCE(SUM(cost_usd), 0)",
    "SUM(CASE WHEN cost_usd IS NULL AND status < 400 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END)",
)


def usage_sql(
    by: Sequence[UsageDimension], since: float | None, until: float | None, key_name: str | None
) -> tuple[str, list[Any]]:
    """The aggregate over ``gateway_calls``: one row per group, dimensions first."""
    where, params = [], []
    for clause, value in (("ts >= ?", since), ("ts < ?", until), ("key_name = ?", key_name)):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = f"SELECT {', '.join([*(_COLUMNS[d] for d in by), *_FIGURES])} FROM gateway_calls"
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    if by:
        sql += f" GROUP BY {', '.join(str(n) for n in range(1, len(by) + 1))}"
    return sql, params


def usage_from_rows(
    by: Sequence[UsageDimension], rows: Iterable[Sequence[Any]]
) -> list[GatewayUsage]:
    found = []
    for row in rows:
        group = dict(zip(by, row, strict=False))
        calls, errors, inputs, outputs, cached, reasoning, cost, unpriced, hits = row[len(by) :]
        if not calls:  # no GROUP BY over no rows still answers one row of zeros
            continue
        found.append(
            GatewayUsage(
                key_name=group.get("key"),
                route=group.get("route"),
                model=group.get("model"),
                day=None if "day" not in group else day_of(int(group["day"]) * DAY_S),
                calls=int(calls),
                errors=int(errors or 0),
                input_tokens=int(inputs or 0),
                output_tokens=int(outputs or 0),
                cached_input_tokens=int(cached or 0),
                reasoning_tokens=int(reasoning or 0),
                cost_usd=float(cost or 0),
                unpriced=int(unpriced or 0),
                cache_hits=int(hits or 0),
            )
        )
    return ordered(found)


def fold_usage(
    by: Sequence[UsageDimension],
    calls: Iterable[GatewayCallRecord],
    since: float | None,
    until: float | None,
    key_name: str | None,
) -> list[GatewayUsage]:
    """``usage_sql``'s answer, computed in Python over ``calls``."""
    groups: dict[tuple[str | None, ...], GatewayUsage] = {}
    for call in calls:
        if since is not None and call.ts < since:
            continue
        if (until is not None and call.ts >= until) or (key_name not in (None, call.key_name)):
            continue
        values = {
            "key": call.key_name,
            "route": call.route,
            "model": call.model or "",
            "day": day_of(call.ts),
        }
        group = tuple(values[d] if d in by else None for d in USAGE_DIMENSIONS)
        row = groups.get(group)
        if row is None:
            key, route, model, day = group
            row = GatewayUsage(key_name=key, route=route, model=model, day=day)
        groups[group] = replace(
            row,
            calls=row.calls + 1,
            errors=row.errors + (call.status >= 400),
            input_tokens=row.input_tokens + call.input_tokens,
            output_tokens=row.output_tokens + call.output_tokens,
            cached_input_tokens=row.cached_input_tokens + call.cached_input_tokens,
            reasoning_tokens=row.reasoning_tokens + call.reasoning_tokens,
            cost_usd=row.cost_usd + (call.cost_usd or 0.0),
            unpriced=row.unpriced + (call.cost_usd is None and call.status < 400),
            cache_hits=row.cache_hits + call.cache_hit,
        )
    return ordered(groups.values())


def ordered(rows: Iterable[GatewayUsage]) -> list[GatewayUsage]:
    """Oldest day first; within a day, the largest spend first, then by name."""
    return sorted(
        rows,
        key=lambda r: (r.day or "", -r.cost_usd, r.key_name or "", r.route or "", r.model or ""),
    )
