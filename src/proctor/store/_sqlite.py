"""The embedded default store: one SQLite file in WAL mode.

Calls run inline on the event loop: an append is ~12 µs, far less than a hop to a
worker thread would cost.
"""

from __future__ import annotations

import operator
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Any

from proctor.errors import ChainConflictError, RunStateError, StoreError
from proctor.store._files import private_file
from proctor.store._migrations import SCHEMA_VERSION, SQLITE_MIGRATIONS
from proctor.store._records import (
    ApprovalRecord,
    ContractRecord,
    EventRow,
    GatewayCallRecord,
    PurgeRecord,
    RunFilter,
    RunRecord,
)
from proctor.store._rows import (
    APPROVAL_COLUMNS,
    CALL_COLUMNS,
    RUN_COLUMNS,
    approval_from_row,
    approval_params,
    call_from_row,
    contract_from_row,
    contract_params,
    event_from_row,
    event_params,
    run_filter_sql,
    run_from_row,
)
from proctor.store._sqlite_evals import SQLiteEvalResults
from proctor.store._sqlite_keys import SQLiteApiKeys
from proctor.store._sqlite_queue import SQLiteRunQueue

_EVENT_COLUMNS = (
    "run_id, seq, type, ts, trace_id, span_id, parent_span_id, "
    "meta, content, content_digest, prev_hash, hash"
)
_EVENT_COLUMNS_E = ", ".join(f"e.{column.strip()}" for column in _EVENT_COLUMNS.split(","))
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
_UPSERT_RUN = (
    f"INSERT OR REPLACE INTO runs ({', '.join(RUN_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
)
_UPSERT_APPROVAL = (
    f"INSERT OR REPLACE INTO approvals ({', '.join(APPROVAL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in APPROVAL_COLUMNS)})"
)

_CACHE_GET = "SELECT value FROM cache WHERE key = ? AND expires_at > ?"
_CACHE_PUT = (
    "INSERT INTO cache (key, value, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
_CACHE_PURGE = "DELETE FROM cache WHERE expires_at <= ?"

_INSERT_CALL = (
    f"INSERT INTO gateway_calls ({', '.join(CALL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in CALL_COLUMNS)})"
)
_call_params = operator.attrgetter(*CALL_COLUMNS)
_SPEND = "SELECT COALESCE(SUM(cost_usd), 0) FROM gateway_calls WHERE key_name = ? AND ts >= ?"

_INSERT_CONTRACT = (
    "INSERT INTO contracts (content_hash, workflow, version, body, retention_days, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING"
)
_SELECT_CONTRACTS = (
    "SELECT c.content_hash, c.workflow, c.version, c.body, c.retention_days, c.created_at, "
    "(SELECT COUNT(*) FROM runs r WHERE r.contract_hash = c.content_hash) FROM contracts c"
)
_RUN_COLUMNS_R = ", ".join(f"r.{column}" for column in RUN_COLUMNS)
_EXPIRED_RUNS = (
    f"SELECT {_RUN_COLUMNS_R} FROM runs r JOIN contracts c ON c.content_hash = r.contract_hash "
    "WHERE r.status = 'finished' AND r.finished_at IS NOT NULL "
    "AND c.retention_days IS NOT NULL AND r.finished_at + c.retention_days * 86400.0 <= ? "
    "AND NOT EXISTS (SELECT 1 FROM purges p WHERE p.run_id = r.run_id)"
)
# Events without payload fields hold '{}': nothing to purge there.
_PAYLOAD_SIZE = (
    "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(content AS BLOB))), 0) FROM events "
    "WHERE run_id = ? AND content IS NOT NULL AND content != '{}'"
)
_APPROVAL_ARGS_SIZE = (
    "SELECT COALESCE(SUM(LENGTH(CAST(arguments AS BLOB))), 0) FROM approvals "
    "WHERE run_id = ? AND arguments != '{}'"
)


class SQLiteStore(SQLiteEvalResults, SQLiteApiKeys, SQLiteRunQueue):
    """``Store`` on one SQLite file (WAL, synchronous=NORMAL: durable across process death).

    Its eval result methods come from ``SQLiteEvalResults``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            private_file(self.path)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except (sqlite3.Error, OSError) as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except BaseException as exc:
            self._db.close()  # a store that failed to open must not leak its connection
            if isinstance(exc, sqlite3.Error):
                raise self._cannot_open(exc) from exc
            raise

    def _cannot_open(self, exc: Exception) -> StoreError:
        return StoreError(
            f"cannot open the store at {self.path}: {exc}. "
            "Check the path is writable, or choose another with --db or PROCTOR_HOME."
        )

    def _enable_wal(self) -> None:
        # On a new file another process may be migrating, and switching to WAL then fails
        # with "locked" at once, without the busy timeout: wait for it here instead.
        deadline = time.monotonic() + 30
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self) -> None:
        # The version is read inside the write lock: processes opening a new store at
        # once must not both apply the same migration.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {self.path} has schema version {version}, newer than this "
                    f"Proctor knows ({SCHEMA_VERSION}). Upgrade Proctor to open it."
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in _statements(SQLITE_MIGRATIONS[number]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def create_run(
        self, run: RunRecord, first: EventRow, *, contract: ContractRecord | None = None
    ) -> None:
        self._write([first], run=run, contract=contract)

    async def append(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None:
        self._write(rows, run=run, approval=approval)

    def _write(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
        contract: ContractRecord | None = None,
    ) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if contract is not None:
                    db.execute(_INSERT_CONTRACT, contract_params(contract))
                db.executemany(_INSERT_EVENT, [event_params(row) for row in rows])
                if run is not None:
                    db.execute(_UPSERT_RUN, astuple(run))
                if approval is not None:
                    db.execute(_UPSERT_APPROVAL, approval_params(approval))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError as exc:
            first = rows[0] if rows else None
            where = f"run {first.run_id} at seq {first.seq}" if first else "an empty batch"
            raise ChainConflictError(
                f"could not append to {where}: another writer extended this run first "
                f"({exc}). Reload the run and resume it instead of writing twice."
            ) from exc

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row is None else run_from_row(row)

    async def list_runs(self, query: RunFilter) -> list[RunRecord]:
        where, params = run_filter_sql(query)
        rows = self._db.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs r {where} "
            "ORDER BY r.started_at DESC, r.run_id DESC LIMIT ?",
            (*params, query.limit),
        ).fetchall()
        return [run_from_row(row) for row in rows]

    async def events_of_type(self, event_type: str, query: RunFilter) -> list[EventRow]:
        where, params = run_filter_sql(query)
        rows = self._db.execute(
            f"SELECT {_EVENT_COLUMNS_E} FROM events e JOIN runs r ON r.run_id = e.run_id "
            f"{where} {'AND' if where else 'WHERE'} e.type = ? ORDER BY e.ts",
            (*params, event_type),
        ).fetchall()
        return [event_from_row(r) for r in rows]

    async def run_ids(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT run_id FROM events ORDER BY run_id").fetchall()
        return [row[0] for row in rows]

    async def events(
        self, run_id: str, *, after: int = -1, limit: int | None = None
    ) -> list[EventRow]:
        rows = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (run_id, after, -1 if limit is None else limit),
        ).fetchall()
        return [event_from_row(r) for r in rows]

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        row = self._db.execute(
            f"SELECT {', '.join(APPROVAL_COLUMNS)} FROM approvals WHERE approval_id = ?",
            (approval_id,),
        ).fetchone()
        return None if row is None else approval_from_row(row)

    async def list_approvals(
        self, status: str | None = "pending", *, tenant: str | None = None
    ) -> list[ApprovalRecord]:
        sql = f"SELECT {', '.join(f'a.{c}' for c in APPROVAL_COLUMNS)} FROM approvals a"
        clauses: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            sql += " JOIN runs r ON r.run_id = a.run_id"
            clauses.append("r.tenant = ?")
            params.append(tenant)
        if status is not None:
            clauses.append("a.status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(sql + where + " ORDER BY a.requested_at", params).fetchall()
        return [approval_from_row(row) for row in rows]

    # The cache: a miss is cheaper than a failed call, so callers may treat StoreError as one.

    async def cache_get(self, key: str, now: float) -> bytes | None:
        row = self._cache_execute(_CACHE_GET, (key, now)).fetchone()
        return None if row is None else bytes(row[0])

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        self._cache_execute(_CACHE_PUT, (key, value, expires_at))

    async def cache_purge(self, now: float) -> int:
        return self._cache_execute(_CACHE_PURGE, (now,)).rowcount

    def _cache_execute(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"the cache in the store at {self.path} failed: {exc}") from exc

    # The endpoint's call ledger: written in batches, one transaction each.

    async def record_gateway_calls(self, calls: Sequence[GatewayCallRecord]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_INSERT_CALL, [_call_params(call) for call in calls])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def gateway_spend(self, key_name: str, since: float) -> float:
        return float(self._db.execute(_SPEND, (key_name, since)).fetchone()[0])

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        where, params = ("WHERE key_name = ?", (key_name,)) if key_name is not None else ("", ())
        rows = self._db.execute(
            f"SELECT {', '.join(CALL_COLUMNS)} FROM gateway_calls {where} "
            "ORDER BY ts DESC, id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [call_from_row(row) for row in rows]

    # Contract versions and retention.

    async def contracts(
        self, *, workflow: str | None = None, hash_prefix: str = ""
    ) -> list[ContractRecord]:
        clauses = ["substr(c.content_hash, 1, ?) = ?"]
        params: list[Any] = [len(hash_prefix), hash_prefix]
        if workflow is not None:
            clauses.append("c.workflow = ?")
            params.append(workflow)
        rows = self._db.execute(
            f"{_SELECT_CONTRACTS} WHERE {' AND '.join(clauses)} "
            "ORDER BY c.created_at DESC, c.content_hash",
            params,
        ).fetchall()
        return [contract_from_row(r) for r in rows]

    async def expired_runs(self, now: float, *, workflow: str | None = None) -> list[RunRecord]:
        sql = _EXPIRED_RUNS
        params: list[Any] = [now]
        if workflow is not None:
            sql += " AND r.workflow = ?"
            params.append(workflow)
        rows = self._db.execute(sql + " ORDER BY r.finished_at", params).fetchall()
        return [run_from_row(row) for row in rows]

    async def purge_payloads(
        self, run_id: str, *, at: float, reason: str, dry_run: bool = False
    ) -> PurgeRecord:
        db = self._db
        # A dry run only reads, so it need not wait for (or hold) the write lock.
        db.execute("BEGIN" if dry_run else "BEGIN IMMEDIATE")
        try:
            status = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if status is None or status[0] != "finished":
                raise RunStateError(
                    f"run {run_id} is {status[0] if status else 'not in this store'}: "
                    "only finished runs can have their payloads purged"
                )
            events, size = db.execute(_PAYLOAD_SIZE, (run_id,)).fetchone()
            size += db.execute(_APPROVAL_ARGS_SIZE, (run_id,)).fetchone()[0]
            purge = PurgeRecord(
                run_id=run_id, purged_at=at, events=events, bytes=size, reason=reason
            )
            if not dry_run:
                db.execute(
                    "UPDATE events SET content = NULL "
                    "WHERE run_id = ? AND content IS NOT NULL AND content != '{}'",
                    (run_id,),
                )
                db.execute("UPDATE approvals SET arguments = '{}' WHERE run_id = ?", (run_id,))
                db.execute(
                    "INSERT INTO purges (run_id, purged_at, events, bytes, reason) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                    "purged_at = excluded.purged_at, events = purges.events + excluded.events, "
                    "bytes = purges.bytes + excluded.bytes, reason = excluded.reason",
                    (run_id, at, events, size, reason),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return purge

    async def get_purge(self, run_id: str) -> PurgeRecord | None:
        row = self._db.execute(
            "SELECT run_id, purged_at, events, bytes, reason FROM purges WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        return PurgeRecord(
            run_id=row[0], purged_at=row[1], events=row[2], bytes=row[3], reason=row[4]
        )

    async def close(self) -> None:
        self._db.close()


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
