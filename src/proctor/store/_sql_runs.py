"""Runs, their event logs, approvals and contract versions, in SQL written once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from proctor.errors import StoreError
from proctor.store._records import (
    ApprovalOrder,
    ApprovalRecord,
    ContractRecord,
    EventRow,
    RunFilter,
    RunRecord,
    chain_conflict,
)
from proctor.store._rows import (
    APPROVAL_COLUMNS,
    EVENT_COLUMNS,
    RUN_COLUMNS,
    approval_from_row,
    approval_params,
    contract_from_row,
    contract_params,
    event_from_row,
    event_params,
    run_from_row,
    run_order_sql,
    run_params,
)
from proctor.store._run_query import RunTotals
from proctor.store._sql_base import Params, SQLBase, insert, upsert

INSERT_EVENT = insert("events", EVENT_COLUMNS)
UPSERT_RUN = upsert("runs", RUN_COLUMNS)
UPSERT_APPROVAL = upsert("approvals", APPROVAL_COLUMNS)
SELECT_RUNS = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs r"
SELECT_TOTALS = (
    "SELECT COUNT(*), COALESCE(SUM(r.cost_usd), 0), COUNT(*) - COUNT(r.cost_usd), "
    "COALESCE(SUM(r.input_tokens), 0), COALESCE(SUM(r.output_tokens), 0)"
)
SELECT_EVENTS = (
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? AND seq > ? "
    "ORDER BY seq LIMIT ?"
)
SELECT_EVENTS_OF_TYPE = (
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? AND seq > ? "
    "AND type = ? ORDER BY seq LIMIT ?"
)
SELECT_EVENTS_OF_RUNS = (
    f"SELECT {', '.join(f'e.{c}' for c in EVENT_COLUMNS)} "
    "FROM events e JOIN runs r ON r.run_id = e.run_id"
)
SELECT_APPROVALS = f"SELECT {', '.join(f'a.{c}' for c in APPROVAL_COLUMNS)} FROM approvals a"
INSERT_CONTRACT = (
    "INSERT INTO contracts (content_hash, workflow, version, body, retention_days, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING"
)
SELECT_CONTRACTS = (
    "SELECT c.content_hash, c.workflow, c.version, c.body, c.retention_days, c.created_at, "
    "(SELECT COUNT(*) FROM runs r WHERE r.contract_hash = c.content_hash) FROM contracts c"
)
INSERT_RUN_KEY = (
    "INSERT INTO run_keys (run_id, wrapped, created_at) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id) DO NOTHING"
)
SELECT_RUN_KEY = "SELECT wrapped FROM run_keys WHERE run_id = ?"
# The chain's own constraints (primary key, trigger, seq >= 0): a clash on one of them is
# a second writer, not a bug. SQLite does not name them, so there any clash is one.
CHAIN_CONSTRAINTS = frozenset({"events_pkey", "events_extend_chain", "events_seq_check"})


class SQLRunLog(SQLBase):
    """``RunLog``, ``Approvals`` and ``ContractVersions`` over the dialect hooks."""

    async def create_run(
        self,
        run: RunRecord,
        first: EventRow,
        *,
        contract: ContractRecord | None = None,
        run_key: str | None = None,
    ) -> None:
        await self._append([first], run, None, contract, run_key)

    async def run_key(self, run_id: str) -> str | None:
        row = await self._fetchone(SELECT_RUN_KEY, (run_id,))
        return None if row is None else str(row[0])

    async def save_run_key(self, run_id: str, wrapped: str, *, at: float) -> str:
        await self._execute(INSERT_RUN_KEY, (run_id, wrapped, at))
        kept = await self.run_key(run_id)
        assert kept is not None
        return kept

    async def append(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None:
        await self._append(rows, run, approval, None)

    async def _append(
        self,
        rows: Sequence[EventRow],
        run: RunRecord | None,
        approval: ApprovalRecord | None,
        contract: ContractRecord | None,
        run_key: str | None = None,
    ) -> None:
        batch: list[tuple[str, Sequence[Params]]] = []
        if contract is not None:
            batch.append((INSERT_CONTRACT, [contract_params(contract)]))
        if run_key is not None:
            batch.append((INSERT_RUN_KEY, [(rows[0].run_id, run_key, rows[0].ts)]))
        batch.append((INSERT_EVENT, [event_params(row) for row in rows]))
        if run is not None:
            batch.append((UPSERT_RUN, [run_params(run)]))
        if approval is not None:
            batch.append((UPSERT_APPROVAL, [approval_params(approval)]))
        try:
            await self._write(batch)
        except StoreError as exc:
            reason = self._violation(exc, CHAIN_CONSTRAINTS)
            if reason is None:
                raise
            raise chain_conflict(rows, reason) from exc.__cause__

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = await self._fetchone(f"{SELECT_RUNS} WHERE run_id = ?", (run_id,))
        return None if row is None else run_from_row(row)

    async def list_runs(self, query: RunFilter) -> list[RunRecord]:
        where, params = await self._run_filter(query)
        rows = await self._fetch(
            f"{SELECT_RUNS} {where} {run_order_sql(query.sort)} LIMIT ?", (*params, query.limit)
        )
        return [run_from_row(row) for row in rows]

    async def run_totals(self, query: RunFilter, *, cap: int | None = None) -> RunTotals:
        where, params = await self._run_filter(replace(query, before=None, sort="-started"))
        capped = False
        if cap is None:
            [row] = await self._fetch(f"{SELECT_TOTALS} FROM runs r {where}", params)
        else:
            # The newest `cap` runs through the start-order index, then whether one more is.
            order = run_order_sql("-started")
            figures = "r.cost_usd, r.input_tokens, r.output_tokens"
            [row] = await self._fetch(
                f"{SELECT_TOTALS} FROM (SELECT {figures} FROM runs r {where} {order} LIMIT ?) r",
                (*params, cap),
            )
            if int(row[0]) == cap:
                more = f"SELECT r.run_id FROM runs r {where} {order} LIMIT 1 OFFSET ?"
                capped = bool(await self._fetch(more, (*params, cap)))
        return RunTotals(
            capped=capped,
            runs=int(row[0]),
            cost_usd=float(row[1]),
            cost_unknown=int(row[2]),
            input_tokens=int(row[3]),
            output_tokens=int(row[4]),
        )

    async def events_of_type(self, event_type: str, query: RunFilter) -> list[EventRow]:
        where, params = await self._run_filter(query)
        rows = await self._fetch(
            f"{SELECT_EVENTS_OF_RUNS} {where} {'AND' if where else 'WHERE'} e.type = ? "
            "ORDER BY e.ts, e.run_id, e.seq",
            (*params, event_type),
        )
        return [event_from_row(row) for row in rows]

    async def run_ids(self) -> list[str]:
        rows = await self._fetch("SELECT DISTINCT run_id FROM events ORDER BY run_id")
        return [row[0] for row in rows]

    async def events(
        self,
        run_id: str,
        *,
        after: int = -1,
        limit: int | None = None,
        event_type: str | None = None,
    ) -> list[EventRow]:
        bound = self.dialect.no_limit if limit is None else limit
        if event_type is None:
            rows = await self._fetch(SELECT_EVENTS, (run_id, after, bound))
        else:
            rows = await self._fetch(SELECT_EVENTS_OF_TYPE, (run_id, after, event_type, bound))
        return [event_from_row(row) for row in rows]

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        row = await self._fetchone(f"{SELECT_APPROVALS} WHERE a.approval_id = ?", (approval_id,))
        return None if row is None else approval_from_row(row)

    async def list_approvals(
        self,
        status: str | None = "pending",
        *,
        tenant: str | None = None,
        decided_since: float | None = None,
        run_ids: Sequence[str] | None = None,
        order: ApprovalOrder = "requested",
        after: tuple[float, str] | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRecord]:
        if run_ids is not None and not run_ids:
            return []
        clauses, params = _approval_filter(status, tenant, run_ids)
        if decided_since is not None:
            clauses.append("a.decided_at >= ?")
            params.append(decided_since)
        # Keyset pages in an index's order (migration 21: status or decision time, then
        # the approval id), so a page costs the same however many approvals there are.
        if order == "-decided":
            clauses.append("a.decided_at IS NOT NULL")
            columns, op = "a.decided_at, a.approval_id", "<"
            order_by = "a.decided_at DESC, a.approval_id DESC"
        else:
            columns, op = "a.requested_at, a.approval_id", ">"
            order_by = "a.requested_at, a.approval_id"
        if after is not None:
            clauses.append(f"({columns}) {op} (?, ?)")
            params.extend(after)
        sql = f"{SELECT_APPROVALS}{_approval_join(tenant)}{_where(clauses)} ORDER BY {order_by}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [approval_from_row(row) for row in await self._fetch(sql, params)]

    async def count_approvals(
        self, status: str | None = "pending", *, tenant: str | None = None, cap: int | None = None
    ) -> int:
        clauses, params = _approval_filter(status, tenant, None)
        inner = f"SELECT 1 FROM approvals a{_approval_join(tenant)}{_where(clauses)}"
        if cap is not None:
            inner += " LIMIT ?"
            params.append(cap)
        row = await self._fetchone(f"SELECT COUNT(*) FROM ({inner}) AS counted", params)
        return 0 if row is None else int(row[0])

    async def contracts(
        self, *, workflow: str | None = None, hash_prefix: str = ""
    ) -> list[ContractRecord]:
        # substr, not LIKE: a prefix is literal text, `_` and `%` included.
        clauses = ["substr(c.content_hash, 1, ?) = ?"]
        params: list[Any] = [len(hash_prefix), hash_prefix]
        if workflow is not None:
            clauses.append("c.workflow = ?")
            params.append(workflow)
        rows = await self._fetch(
            f"{SELECT_CONTRACTS} WHERE {' AND '.join(clauses)} "
            "ORDER BY c.created_at DESC, c.content_hash",
            params,
        )
        return [contract_from_row(row) for row in rows]


def _approval_filter(
    status: str | None, tenant: str | None, run_ids: Sequence[str] | None
) -> tuple[list[str], list[Any]]:
    """The conditions and parameters of approvals of ``status``, of the runs of ``tenant``
    (joined by ``_approval_join``), of the runs ``run_ids``."""
    clauses: list[str] = []
    params: list[Any] = []
    if tenant is not None:
        clauses.append("r.run_id = a.run_id AND r.tenant = ?")
        params.append(tenant)
    if status is not None:
        # Given the runs, their index (approvals_by_run) finds the few rows; a plain
        # `status = ?` would lead SQLite to walk every approval of that status instead.
        clauses.append("a.status = ?" if run_ids is None else "(a.status || '') = ?")
        params.append(status)
    if run_ids is not None:
        clauses.append(f"a.run_id IN ({', '.join('?' for _ in run_ids)})")
        params.extend(run_ids)
    return clauses, params


def _approval_join(tenant: str | None) -> str:
    # CROSS JOIN keeps SQLite reading the approvals first (in their index's order, or
    # those of the runs given), then each one's run: without statistics (a store grown
    # from empty has none) it would walk every run of the tenant through an index on
    # tenant instead (200 ms at a million runs, not 1 ms).
    return "" if tenant is None else " CROSS JOIN runs r"


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""
