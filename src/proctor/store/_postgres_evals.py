"""The PostgreSQL store's eval results (``eval_results``, migration 6), as SQLite keeps them."""

from __future__ import annotations

from proctor.errors import UsageError
from proctor.store._postgres_pool import PostgresConnection
from proctor.store._records import EvalResultRecord
from proctor.store._rows import (
    EVAL_COLUMNS,
    EVAL_SUMMARY,
    INSERT_EVAL,
    SELECT_EVAL,
    eval_results_sql,
)

# The shared statements with PostgreSQL's placeholders, converted once.
_INSERT = INSERT_EVAL.replace("?", "%s")
_SELECT_ONE = SELECT_EVAL.replace("?", "%s")


class PostgresEvalResults(PostgresConnection):
    """``Store``'s eval result methods, for ``PostgresStore``."""

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        async with self._connection() as conn:
            await conn.execute(
                _INSERT,
                tuple(getattr(record, column) for column in EVAL_COLUMNS),
            )

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        sql, params = eval_results_sql(suite, id_prefix, tenant, limit)
        rows = await self._fetch(sql.replace("?", "%s"), params)
        return [EvalResultRecord(**dict(zip(EVAL_SUMMARY, row, strict=True))) for row in rows]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        row = await self._fetchone(_SELECT_ONE, (result_id,))
        return (
            None if row is None else EvalResultRecord(**dict(zip(EVAL_COLUMNS, row, strict=True)))
        )
