"""The scale-out store: PostgreSQL through psycopg 3 and an async connection pool.

The same tables, rows, statements and semantics as ``SQLiteStore`` (both are
``SQLStore``), so several processes and hosts can share one store. The database itself
keeps chains linear: ``(run_id, seq)`` is the primary key and a trigger refuses a row
that does not extend its run's head. JSON is kept as TEXT, byte for byte, and rows are
read in binary, so floats come back bit-exact and a chain verified on one backend
verifies on the other. This module imports psycopg: ``open_store`` loads it only for a
``postgresql://`` URL.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import psycopg

from proctor.errors import StoreError
from proctor.store._postgres_pool import Connection, PostgresConnection, _reason
from proctor.store._sql_base import Batch, Dialect, Params, Row, Tx
from proctor.store._sql_store import SQLStore

_LOCK_CLASS = 0x50524F43  # "PROC", as the migration lock; the key names the queue
_QUEUE_LOCK_KEY = 0x51554555  # "QUEU"

POSTGRES = Dialect(
    byte_length="octet_length({})",
    no_limit=None,  # LIMIT NULL
    lock_rows=" FOR UPDATE",
    skip_locked=" FOR UPDATE OF q SKIP LOCKED",
    queue_lock=f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, {_QUEUE_LOCK_KEY})",
    key_lock=f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(?))",
    list_param=True,
    whole="CAST(FLOOR({}) AS BIGINT)",  # a cast alone rounds to the nearest
    ilike="ILIKE",
    id_like="lower(r.run_id) LIKE",
    json_text="(CAST({} AS jsonb) ->> '{}')",
    # 18 significant digits tell a double's exact half from its neighbours; numeric's
    # round() is half up for a positive value, as SQLite's printf and round_duration.
    rounded="CASE WHEN {0} > 0 THEN round({1}, 1 - floor(log({1}))::int)::float8 ELSE 0 END".format(
        "{0}", "to_char({0}, '9.99999999999999999EEEE')::numeric"
    ),
)


@functools.lru_cache(maxsize=1024)
def _sql(statement: str) -> str:
    """A statement in psycopg's words, converted once: ``%s`` for ``?`` (Proctor's
    statements hold no other ``?``, and no ``%``: values are always parameters)."""
    return statement.replace("?", "%s")


class PostgresStore(SQLStore, PostgresConnection):
    """``Store`` on a PostgreSQL database (15 or later), shared by any number of processes.

    ``url`` is ``postgresql://[user[:password]@]host[:port]/database[?schema=NAME]``;
    ``migrate=False`` leaves the schema as found (``proctor db status``/``upgrade``).
    The pool holds at most ``max_size`` connections (default ``$PROCTOR_DB_POOL_MAX``,
    else 10).
    """

    dialect = POSTGRES

    async def schema_version_now(self) -> int:
        # Through the pool, unlike schema_version: a probe every few seconds should not
        # open a connection each time.
        async with self._connection() as conn:
            return await self._read_version(conn)

    async def _after_purge(self) -> None:
        # A deleted row stays in its page until vacuumed: vacuum the run keys at once (a
        # small table), so a destroyed data key is not left behind as a dead tuple.
        await self._execute("VACUUM run_keys")

    # The dialect hooks, over the pool (``PostgresConnection``).

    async def _fetch(self, sql: str, params: Params = (), *, area: str = "") -> list[Row]:
        async with self._connection(area) as conn:
            return await _fetch(conn, sql, params)

    async def _execute(self, sql: str, params: Params = (), *, area: str = "") -> int:
        async with self._connection(area) as conn:
            return (await conn.execute(_sql(sql), params)).rowcount

    async def _write(self, batch: Batch, *, area: str = "") -> None:
        # One round trip: the statements go through the pipeline, results read at the end.
        async with self._pipelined(area) as cursor:
            for sql, rows in batch:
                await cursor.executemany(_sql(sql), rows)

    @asynccontextmanager
    async def _transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        # Rows lock as they are read (Dialect.lock_rows), so `write` asks nothing more.
        async with self._connection() as conn, conn.transaction():
            yield _Transaction(conn)

    def _violation(self, exc: StoreError, of: frozenset[str] | None = None) -> str | None:
        cause = exc.__cause__
        if isinstance(cause, psycopg.IntegrityError) and (
            of is None or cause.diag.constraint_name in of
        ):
            return _reason(cause)
        return None


async def _fetch(conn: Connection, sql: str, params: Params) -> list[Row]:
    # Binary results: floats come back bit-exact whatever the server's
    # extra_float_digits, and the chain hash covers event timestamps.
    cursor = await conn.execute(_sql(sql), params, binary=True)
    return await cursor.fetchall()


class _Transaction:
    """Statements on one pooled connection, inside its transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        return await _fetch(self._conn, sql, params)

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self._conn.execute(_sql(sql), params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(_sql(sql), rows)
