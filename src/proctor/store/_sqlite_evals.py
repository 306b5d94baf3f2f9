"""The SQLite store's eval results (``eval_results``, migration 6), kept apart from its runs.

Plain SQL that PostgreSQL runs as well: a prefix is matched with ``substr`` (``LIKE``
would read the ``_`` of ``evr_`` as a wildcard), and a repeated id is left as stored.
"""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

from proctor.errors import StoreError, UsageError
from proctor.store._records import EvalResultRecord

_COLUMNS = tuple(f.name for f in fields(EvalResultRecord))
_SUMMARY = tuple(column for column in _COLUMNS if column != "body")
_INSERT = (
    f"INSERT INTO eval_results ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT (result_id) DO NOTHING"
)
_SELECT_ONE = f"SELECT {', '.join(_COLUMNS)} FROM eval_results WHERE result_id = ?"


class SQLiteEvalResults:
    """``Store``'s eval result methods, for ``SQLiteStore`` (which supplies the connection)."""

    path: Path
    _db: sqlite3.Connection

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        params = tuple(getattr(record, column) for column in _COLUMNS)
        self._eval_execute(_INSERT, params)

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            clauses.append("tenant = ?")
            params.append(tenant)
        if suite is not None:
            clauses.append("suite = ?")
            params.append(suite)
        if id_prefix:
            clauses.append("substr(result_id, 1, ?) = ?")
            params.extend((len(id_prefix), id_prefix))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._eval_execute(
            f"SELECT {', '.join(_SUMMARY)} FROM eval_results {where} "
            "ORDER BY created_at DESC, result_id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [EvalResultRecord(**dict(zip(_SUMMARY, row, strict=True))) for row in rows]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        row = self._eval_execute(_SELECT_ONE, (result_id,)).fetchone()
        return None if row is None else EvalResultRecord(**dict(zip(_COLUMNS, row, strict=True)))

    def _eval_execute(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(
                f"the eval results in the store at {self.path} failed: {exc}. "
                "Check the file is writable and not locked by another program"
            ) from exc
