"""The SQLite store's eval results (``eval_results``, migration 6), kept apart from its runs.

The statements are shared with PostgreSQL (``_rows``): a prefix is matched with ``substr``
and a repeated id is left as stored.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from proctor.errors import StoreError, UsageError
from proctor.store._records import EvalResultRecord
from proctor.store._rows import (
    EVAL_COLUMNS,
    EVAL_SUMMARY,
    INSERT_EVAL,
    SELECT_EVAL,
    eval_results_sql,
)


class SQLiteEvalResults:
    """``Store``'s eval result methods, for ``SQLiteStore`` (which supplies the connection)."""

    path: Path
    _db: sqlite3.Connection

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        params = tuple(getattr(record, column) for column in EVAL_COLUMNS)
        self._eval_execute(INSERT_EVAL, params)

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        sql, params = eval_results_sql(suite, id_prefix, tenant, limit)
        rows = self._eval_execute(sql, tuple(params)).fetchall()
        return [EvalResultRecord(**dict(zip(EVAL_SUMMARY, row, strict=True))) for row in rows]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        row = self._eval_execute(SELECT_EVAL, (result_id,)).fetchone()
        return (
            None if row is None else EvalResultRecord(**dict(zip(EVAL_COLUMNS, row, strict=True)))
        )

    def _eval_execute(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(
                f"the eval results in the store at {self.path} failed: {exc}. "
                "Check the file is writable and not locked by another program"
            ) from exc
