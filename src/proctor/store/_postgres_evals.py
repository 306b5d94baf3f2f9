"""The PostgreSQL store's eval results (``eval_results``, migration 6), as SQLite keeps them."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from proctor.errors import UsageError
from proctor.store._postgres_pool import PostgresConnection
from proctor.store._records import EvalResultRecord

_COLUMNS = tuple(f.name for f in fields(EvalResultRecord))
_SUMMARY = tuple(column for column in _COLUMNS if column != "body")
_INSERT = (
    f"INSERT INTO eval_results ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _COLUMNS)}) ON CONFLICT (result_id) DO NOTHING"
)
_SELECT_ONE = f"SELECT {', '.join(_COLUMNS)} FROM eval_results WHERE result_id = %s"


class PostgresEvalResults(PostgresConnection):
    """``Store``'s eval result methods, for ``PostgresStore``."""

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        async with self._connection() as conn:
            await conn.execute(_INSERT, tuple(getattr(record, column) for column in _COLUMNS))

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
            clauses.append("tenant = %s")
            params.append(tenant)
        if suite is not None:
            clauses.append("suite = %s")
            params.append(suite)
        if id_prefix:
            # substr, not LIKE, which would read the `_` of `evr_` as a wildcard.
            clauses.append("substr(result_id, 1, %s) = %s")
            params.extend((len(id_prefix), id_prefix))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetch(
            f"SELECT {', '.join(_SUMMARY)} FROM eval_results {where} "
            "ORDER BY created_at DESC, result_id DESC LIMIT %s",
            (*params, limit),
        )
        return [EvalResultRecord(**dict(zip(_SUMMARY, row, strict=True))) for row in rows]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        row = await self._fetchone(_SELECT_ONE, (result_id,))
        return None if row is None else EvalResultRecord(**dict(zip(_COLUMNS, row, strict=True)))
