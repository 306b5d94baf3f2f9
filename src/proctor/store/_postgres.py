"""The scale-out store: PostgreSQL through psycopg 3 and an async connection pool.

The same tables, rows and semantics as ``SQLiteStore``, so several processes and hosts
can share one store. The database itself keeps chains linear: ``(run_id, seq)`` is the
primary key and a trigger refuses a row that does not extend its run's head. This
module imports psycopg: ``open_store`` loads it only for a ``postgresql://`` URL.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import astuple, fields
from typing import Any

import psycopg

from proctor.errors import ChainConflictError, RunStateError, StoreError
from proctor.store._postgres_evals import PostgresEvalResults
from proctor.store._postgres_keys import PostgresApiKeys
from proctor.store._postgres_pool import _reason
from proctor.store._postgres_queue import PostgresRunQueue
from proctor.store._records import (
    ApprovalRecord,
    ContractRecord,
    EventRow,
    GatewayCallRecord,
    PurgeRecord,
    RunFilter,
    RunRecord,
)

# Rows are encoded and decoded as the SQLite store does: both backends return the same
# values, and a chain verified on one verifies on the other.
from proctor.store._rows import (
    approval_from_row,
    approval_params,
    call_from_row,
    contract_from_row,
    contract_params,
    event_from_row,
    event_params,
    run_filter_sql,
)


def _values(count: int) -> str:
    return ", ".join(["%s"] * count)


def _upsert(table: str, columns: Sequence[str]) -> str:
    """``INSERT`` that replaces the whole row on a key clash (SQLite's INSERT OR REPLACE)."""
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_values(len(columns))}) "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


RUN_COLUMNS = tuple(f.name for f in fields(RunRecord))
APPROVAL_COLUMNS = tuple(f.name for f in fields(ApprovalRecord))
_EVENT_COLUMNS = (
    "run_id, seq, type, ts, trace_id, span_id, parent_span_id, "
    "meta, content, content_digest, prev_hash, hash"
)
_EVENT_COLUMNS_E = ", ".join(f"e.{column.strip()}" for column in _EVENT_COLUMNS.split(","))
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_values(12)})"
_UPSERT_RUN = _upsert("runs", RUN_COLUMNS)
_UPSERT_APPROVAL = _upsert("approvals", APPROVAL_COLUMNS)
_SELECT_RUN = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
_SELECT_APPROVAL = f"SELECT {', '.join(f'a.{c}' for c in APPROVAL_COLUMNS)} FROM approvals a"
# The chain's own constraints: a clash on one of them is a second writer, not a bug.
_CHAIN_CONSTRAINTS = frozenset({"events_pkey", "events_extend_chain", "events_seq_check"})

_CACHE_PUT = (
    "INSERT INTO cache (key, value, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
)

CALL_COLUMNS = tuple(f.name for f in fields(GatewayCallRecord))
_INSERT_CALL = (
    f"INSERT INTO gateway_calls ({', '.join(CALL_COLUMNS)}) VALUES ({_values(len(CALL_COLUMNS))})"
)
_call_params = operator.attrgetter(*CALL_COLUMNS)

_INSERT_CONTRACT = (
    "INSERT INTO contracts (content_hash, workflow, version, body, retention_days, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (content_hash) DO NOTHING"
)
_SELECT_CONTRACTS = (
    "SELECT c.content_hash, c.workflow, c.version, c.body, c.retention_days, c.created_at, "
    "(SELECT COUNT(*) FROM runs r WHERE r.contract_hash = c.content_hash) FROM contracts c"
)
_EXPIRED_RUNS = (
    f"SELECT {', '.join(f'r.{c}' for c in RUN_COLUMNS)} FROM runs r "
    "JOIN contracts c ON c.content_hash = r.contract_hash "
    "WHERE r.status = 'finished' AND r.finished_at IS NOT NULL "
    "AND c.retention_days IS NOT NULL AND r.finished_at + c.retention_days * 86400.0 <= %s "
    "AND NOT EXISTS (SELECT 1 FROM purges p WHERE p.run_id = r.run_id)"
)
# Events without payload fields hold '{}': nothing to purge there. Approval arguments count.
_PAYLOAD_SIZE = (
    "SELECT COUNT(*), COALESCE(SUM(octet_length(content)), 0) + ("
    "SELECT COALESCE(SUM(octet_length(arguments)), 0) FROM approvals "
    "WHERE run_id = %s AND arguments != '{}') "
    "FROM events WHERE run_id = %s AND content IS NOT NULL AND content != '{}'"
)


def _filter(query: RunFilter) -> tuple[str, list[Any]]:
    # The SQLite store's WHERE clause: its text is Proctor's own, so `?` only ever marks
    # a parameter and can be swapped for psycopg's marker.
    where, params = run_filter_sql(query)
    return where.replace("?", "%s"), params


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(**dict(zip(RUN_COLUMNS, row, strict=True)))


class PostgresStore(PostgresEvalResults, PostgresApiKeys, PostgresRunQueue):
    """``Store`` on a PostgreSQL database (15 or later), shared by any number of processes.

    ``url`` is ``postgresql://[user[:password]@]host[:port]/database[?schema=NAME]``;
    ``migrate=False`` leaves the schema as found (``proctor db status``/``upgrade``).
    The pool holds at most ``max_size`` connections (default ``$PROCTOR_DB_POOL_MAX``,
    else 10). Eval results and API keys come from the mixins.
    """

    async def create_run(
        self, run: RunRecord, first: EventRow, *, contract: ContractRecord | None = None
    ) -> None:
        await self._write([first], run=run, contract=contract)

    async def append(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None:
        await self._write(rows, run=run, approval=approval)

    async def _write(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
        contract: ContractRecord | None = None,
    ) -> None:
        try:
            async with self._pipelined() as cursor:
                if contract is not None:
                    await cursor.execute(_INSERT_CONTRACT, contract_params(contract))
                await cursor.executemany(_INSERT_EVENT, [event_params(row) for row in rows])
                if run is not None:
                    await cursor.execute(_UPSERT_RUN, astuple(run))
                if approval is not None:
                    await cursor.execute(_UPSERT_APPROVAL, approval_params(approval))
        except StoreError as exc:
            cause = exc.__cause__
            if not (
                isinstance(cause, psycopg.IntegrityError)
                and cause.diag.constraint_name in _CHAIN_CONSTRAINTS
            ):
                raise
            first = rows[0] if rows else None
            where = f"run {first.run_id} at seq {first.seq}" if first else "an empty batch"
            raise ChainConflictError(
                f"could not append to {where}: another writer extended this run first "
                f"({_reason(cause)}). Reload the run and resume it instead of writing twice."
            ) from cause

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = await self._fetchone(f"{_SELECT_RUN} WHERE run_id = %s", (run_id,))
        return None if row is None else _run(row)

    async def list_runs(self, query: RunFilter) -> list[RunRecord]:
        where, params = _filter(query)
        rows = await self._fetch(
            f"{_SELECT_RUN} r {where} ORDER BY r.started_at DESC, r.run_id DESC LIMIT %s",
            (*params, query.limit),
        )
        return [_run(row) for row in rows]

    async def events_of_type(self, event_type: str, query: RunFilter) -> list[EventRow]:
        where, params = _filter(query)
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS_E} FROM events e JOIN runs r ON r.run_id = e.run_id "
            f"{where} {'AND' if where else 'WHERE'} e.type = %s ORDER BY e.ts, e.run_id, e.seq",
            (*params, event_type),
        )
        return [event_from_row(row) for row in rows]

    async def run_ids(self) -> list[str]:
        rows = await self._fetch("SELECT DISTINCT run_id FROM events ORDER BY run_id")
        return [row[0] for row in rows]

    async def events(
        self, run_id: str, *, after: int = -1, limit: int | None = None
    ) -> list[EventRow]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = %s AND seq > %s "
            "ORDER BY seq LIMIT %s",  # LIMIT NULL: no limit
            (run_id, after, limit),
        )
        return [event_from_row(row) for row in rows]

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        row = await self._fetchone(f"{_SELECT_APPROVAL} WHERE a.approval_id = %s", (approval_id,))
        return None if row is None else approval_from_row(row)

    async def list_approvals(
        self, status: str | None = "pending", *, tenant: str | None = None
    ) -> list[ApprovalRecord]:
        query = _SELECT_APPROVAL
        clauses: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            query += " JOIN runs r ON r.run_id = a.run_id"
            clauses.append("r.tenant = %s")
            params.append(tenant)
        if status is not None:
            clauses.append("a.status = %s")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetch(f"{query}{where} ORDER BY a.requested_at", params)
        return [approval_from_row(row) for row in rows]

    # The cache: a miss is cheaper than a failed call, so callers may treat StoreError as one.

    async def cache_get(self, key: str, now: float) -> bytes | None:
        row = await self._fetchone(
            "SELECT value FROM cache WHERE key = %s AND expires_at > %s", (key, now)
        )
        return None if row is None else bytes(row[0])

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        async with self._connection() as conn:
            await conn.execute(_CACHE_PUT, (key, value, expires_at))

    async def cache_purge(self, now: float) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute("DELETE FROM cache WHERE expires_at <= %s", (now,))
            return cursor.rowcount

    # The endpoint's call ledger: written in batches, one transaction each.

    async def record_gateway_calls(self, calls: Sequence[GatewayCallRecord]) -> None:
        if not calls:
            return
        async with self._pipelined() as cursor:
            await cursor.executemany(_INSERT_CALL, [_call_params(call) for call in calls])

    async def gateway_spend(self, key_name: str, since: float) -> float:
        row = await self._fetchone(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM gateway_calls WHERE key_name = %s AND ts >= %s",
            (key_name, since),
        )
        return 0.0 if row is None else float(row[0])

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        where, params = ("WHERE key_name = %s", (key_name,)) if key_name is not None else ("", ())
        rows = await self._fetch(
            f"SELECT {', '.join(CALL_COLUMNS)} FROM gateway_calls {where} "
            "ORDER BY ts DESC, id DESC LIMIT %s",
            (*params, limit),
        )
        return [call_from_row(row) for row in rows]

    # Contract versions and retention.

    async def contracts(
        self, *, workflow: str | None = None, hash_prefix: str = ""
    ) -> list[ContractRecord]:
        # substr, not LIKE: a prefix is literal text, `_` and `%` included.
        clauses = ["substr(c.content_hash, 1, %s) = %s"]
        params: list[Any] = [len(hash_prefix), hash_prefix]
        if workflow is not None:
            clauses.append("c.workflow = %s")
            params.append(workflow)
        rows = await self._fetch(
            f"{_SELECT_CONTRACTS} WHERE {' AND '.join(clauses)} "
            "ORDER BY c.created_at DESC, c.content_hash",
            params,
        )
        return [contract_from_row(r) for r in rows]

    async def expired_runs(self, now: float, *, workflow: str | None = None) -> list[RunRecord]:
        query = _EXPIRED_RUNS
        params: list[Any] = [now]
        if workflow is not None:
            query += " AND r.workflow = %s"
            params.append(workflow)
        rows = await self._fetch(f"{query} ORDER BY r.finished_at, r.run_id", params)
        return [_run(row) for row in rows]

    async def purge_payloads(
        self, run_id: str, *, at: float, reason: str, dry_run: bool = False
    ) -> PurgeRecord:
        # The run row is locked: an append racing the purge waits for it, then sees it.
        lock = "" if dry_run else " FOR UPDATE"
        async with self._connection() as conn, conn.transaction():
            found = await conn.execute(
                f"SELECT status FROM runs WHERE run_id = %s{lock}", (run_id,)
            )
            status = await found.fetchone()
            if status is None or status[0] != "finished":
                raise RunStateError(
                    f"run {run_id} is {status[0] if status else 'not in this store'}: "
                    "only finished runs can have their payloads purged"
                )
            sized = await conn.execute(_PAYLOAD_SIZE, (run_id, run_id))
            events, size = (int(value) for value in (await sized.fetchall())[0])
            purge = PurgeRecord(
                run_id=run_id, purged_at=at, events=events, bytes=size, reason=reason
            )
            if not dry_run:
                await conn.execute(
                    "UPDATE events SET content = NULL "
                    "WHERE run_id = %s AND content IS NOT NULL AND content != '{}'",
                    (run_id,),
                )
                await conn.execute(
                    "UPDATE approvals SET arguments = '{}' WHERE run_id = %s", (run_id,)
                )
                await conn.execute(
                    "INSERT INTO purges (run_id, purged_at, events, bytes, reason) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET "
                    "purged_at = EXCLUDED.purged_at, events = purges.events + EXCLUDED.events, "
                    "bytes = purges.bytes + EXCLUDED.bytes, reason = EXCLUDED.reason",
                    (run_id, at, events, size, reason),
                )
        return purge

    async def get_purge(self, run_id: str) -> PurgeRecord | None:
        row = await self._fetchone(
            "SELECT run_id, purged_at, events, bytes, reason FROM purges WHERE run_id = %s",
            (run_id,),
        )
        if row is None:
            return None
        return PurgeRecord(
            run_id=row[0], purged_at=row[1], events=row[2], bytes=row[3], reason=row[4]
        )
