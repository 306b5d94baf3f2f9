"""Rows as the SQL stores write and read them: parameters from records, records from
rows, and filters as SQL (``?`` marks a parameter; the backend's hooks convert it)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import orjson

from proctor.store._records import (
    ApprovalRecord,
    ContractRecord,
    EvalResultRecord,
    EventRow,
    GatewayCallRecord,
    RunFilter,
    RunRecord,
    SpendHold,
)
from proctor.store._run_query import SORT_COLUMNS, RunSort, search_terms

RUN_COLUMNS = tuple(f.name for f in fields(RunRecord))
APPROVAL_COLUMNS = tuple(f.name for f in fields(ApprovalRecord))
CALL_COLUMNS = tuple(f.name for f in fields(GatewayCallRecord))
EVAL_COLUMNS = tuple(f.name for f in fields(EvalResultRecord))
EVAL_SUMMARY = tuple(column for column in EVAL_COLUMNS if column != "body")
EVENT_COLUMNS = (
    "run_id",
    "seq",
    "type",
    "ts",
    "trace_id",
    "span_id",
    "parent_span_id",
    "meta",
    "content",
    "content_digest",
    "prev_hash",
    "hash",
    "mac",
    "signature",
    "sealed",
)

# attrgetter, not dataclasses.astuple: a run row is written with most steps, and astuple
# (which deep-copies) costs more than the INSERT.
run_params = operator.attrgetter(*RUN_COLUMNS)
call_params = operator.attrgetter(*CALL_COLUMNS)
eval_params = operator.attrgetter(*EVAL_COLUMNS)
_approval_values = operator.attrgetter(*APPROVAL_COLUMNS)
_ARGUMENTS = APPROVAL_COLUMNS.index("arguments")


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def event_params(row: EventRow) -> tuple[Any, ...]:
    return (
        row.run_id,
        row.seq,
        row.type,
        row.ts,
        row.trace_id,
        row.span_id,
        row.parent_span_id,
        to_json(row.meta) if row.meta_json is None else row.meta_json.decode(),
        None
        if row.content is None
        else to_json(row.content)
        if row.content_json is None
        else row.content_json.decode(),
        row.content_digest,
        row.prev_hash,
        row.hash,
        row.mac,
        row.signature,
        row.sealed,
    )


def approval_params(approval: ApprovalRecord) -> tuple[Any, ...]:
    values = list(_approval_values(approval))
    values[_ARGUMENTS] = to_json(approval.arguments)
    return tuple(values)


def contract_params(contract: ContractRecord) -> tuple[Any, ...]:
    return (
        contract.content_hash,
        contract.workflow,
        contract.version,
        to_json(contract.body),
        contract.retention_days,
        contract.created_at,
    )


def run_filter_sql(
    query: RunFilter,
    ilike: str = "LIKE",
    *,
    id_like: str = "r.run_id LIKE",
    ids_first: bool = False,
) -> tuple[str, list[Any]]:
    """``query`` (all but its limit) as a WHERE clause over ``runs r``, and its parameters
    (``ilike``: the dialect's case-ignoring ``LIKE``, for the search; ``id_like``: its
    run id prefix match, ``Dialect.id_like``). ``ids_first``
    (SQLite, for a short ``run_ids``): every other column is written ``+r.column``, the
    same value but no index, so the planner reads the listed runs by id and sorts them
    rather than walk a tenant's runs in order looking for them."""
    clauses: list[str] = []
    params: list[Any] = []
    r = "+r" if ids_first else "r"
    for column in ("tenant", "workflow", "status", "outcome", "contract_hash", "model", "session"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{r}.{column} = ?")
            params.append(value)
    for bound, op in ((query.since, ">="), (query.until, "<")):
        if bound is not None:
            clauses.append(f"{r}.started_at {op} ?")
            params.append(bound)
    if query.statuses:
        clauses.append(f"{r}.status IN ({', '.join('?' for _ in query.statuses)})")
        params.extend(query.statuses)
    if query.run_ids:
        clauses.append(f"r.run_id IN ({', '.join('?' for _ in query.run_ids)})")
        params.extend(query.run_ids)
    for term in search_terms(query.search):
        # Every word matches somewhere: a run id prefix, the input, the answer, a tool.
        # (Not lower(column) LIKE: on SQLite that halves the speed of a scan.)
        pattern = like_escape(term)
        texts = " OR ".join(
            f"r.{column} {ilike} ? ESCAPE '\\'"
            for column in ("input_text", "answer_text", "tools_used")
        )
        clauses.append(f"({id_like} ? ESCAPE '\\' OR {texts})")
        params.extend((f"{pattern}%", f"%{pattern}%", f"%{pattern}%", f"%{pattern}%"))
    if query.before is not None:
        # Row-value comparison: one index range scan on the order's columns.
        columns = SORT_COLUMNS[query.sort.lstrip("-")]
        op = "<" if query.sort.startswith("-") else ">"
        marks = ", ".join("?" for _ in columns)
        keys = ", ".join(f"+{c}" if ids_first else c for c in columns)
        clauses.append(f"({keys}) {op} ({marks})")
        params.extend(query.before)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def run_order_sql(sort: RunSort) -> str:
    """The ORDER BY of ``sort`` (a total order: the run id breaks ties)."""
    direction = " DESC" if sort.startswith("-") else ""
    return "ORDER BY " + ", ".join(f"{c}{direction}" for c in SORT_COLUMNS[sort.lstrip("-")])


def like_escape(text: str) -> str:
    """``text`` as literal text in a LIKE pattern (with ``ESCAPE '\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    # Every column is read, so __init__'s defaults have nothing to add: filling the
    # instance's __dict__ directly builds 90,000 rows for a report in a tenth of the time.
    run = object.__new__(RunRecord)
    run.__dict__.update(zip(RUN_COLUMNS, row, strict=True))
    return run


def event_from_row(r: tuple[Any, ...]) -> EventRow:
    return EventRow(
        run_id=r[0],
        seq=r[1],
        type=r[2],
        ts=r[3],
        trace_id=r[4],
        span_id=r[5],
        parent_span_id=r[6],
        meta=orjson.loads(r[7]),
        content=None if r[8] is None else orjson.loads(r[8]),
        content_digest=r[9],
        prev_hash=r[10],
        hash=r[11],
        mac=r[12],
        signature=r[13],
        sealed=r[14],
    )


def contract_from_row(r: tuple[Any, ...]) -> ContractRecord:
    """A row of ``SELECT_CONTRACTS``."""
    return ContractRecord(
        content_hash=r[0],
        workflow=r[1],
        version=r[2],
        body=orjson.loads(r[3]),
        retention_days=r[4],
        created_at=r[5],
        runs=r[6],
    )


def approval_from_row(row: tuple[Any, ...]) -> ApprovalRecord:
    values = dict(zip(APPROVAL_COLUMNS, row, strict=True))
    values["arguments"] = orjson.loads(values["arguments"])
    return ApprovalRecord(**values)


def daily_spend(calls: Sequence[GatewayCallRecord]) -> dict[tuple[str, float], float]:
    """The USD of ``calls`` by key and UTC day (the day's start, epoch seconds)."""
    spend: dict[tuple[str, float], float] = {}
    for call in calls:
        if call.cost_usd:
            day = math.floor(call.ts / 86400) * 86400.0
            spend[call.key_name, day] = spend.get((call.key_name, day), 0.0) + call.cost_usd
    return spend


def hold_amount(
    hold: SpendHold, needed_usd: float, limit_usd: float, committed_usd: float
) -> float | None:
    """What to hold for ``hold`` with ``committed_usd`` already spent or held: its amount,
    or what is left if that is less but still ``needed_usd``; ``None`` when it must wait."""
    left = limit_usd - committed_usd
    if left <= 0 or needed_usd > left:
        return None
    return min(hold.amount_usd, left)


def call_from_row(row: tuple[Any, ...]) -> GatewayCallRecord:
    values = dict(zip(CALL_COLUMNS, row, strict=True))
    values["cache_hit"] = bool(values["cache_hit"])
    return GatewayCallRecord(**values)


def eval_results_sql(
    suite: str | None, id_prefix: str, tenant: str | None, limit: int
) -> tuple[str, list[Any]]:
    """The query listing eval results (summaries, newest first), and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if tenant is not None:
        clauses.append("tenant = ?")
        params.append(tenant)
    if suite is not None:
        clauses.append("suite = ?")
        params.append(suite)
    if id_prefix:
        # substr, not LIKE, which would read the `_` of `evr_` as a wildcard.
        clauses.append("substr(result_id, 1, ?) = ?")
        params.extend((len(id_prefix), id_prefix))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (
        f"SELECT {', '.join(EVAL_SUMMARY)} FROM eval_results {where} "
        "ORDER BY created_at DESC, result_id DESC LIMIT ?"
    )
    return sql, [*params, limit]


def eval_from_row(
    row: tuple[Any, ...], columns: tuple[str, ...] = EVAL_COLUMNS
) -> EvalResultRecord:
    return EvalResultRecord(**dict(zip(columns, row, strict=True)))
