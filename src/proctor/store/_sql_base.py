"""What the SQL stores share: the dialect hooks each backend fills in.

Statements are written once, in SQLite's words (``?`` marks a parameter); a backend
runs them through its hooks, which turn them into its own (PostgreSQL's ``%s``) and its
driver's errors into ``StoreError`` (the driver's error as ``__cause__``). Where the two
SQLs truly differ, the statement takes its words from the backend's ``Dialect``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from proctor.errors import StoreError
from proctor.store._records import RunFilter
from proctor.store._rows import run_filter_sql

Params = Sequence[Any]
Row = tuple[Any, ...]
Batch = Sequence[tuple[str, Sequence[Params]]]
"""Statements to run in one transaction, each with its rows of parameters (``executemany``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Dialect:
    """The words a backend's SQL says differently from SQLite's."""

    byte_length: str
    """The byte length of the TEXT expression ``{}``."""
    no_limit: int | None
    """The ``LIMIT`` parameter that means no limit."""
    lock_rows: str
    """Appended to a ``SELECT`` whose rows the transaction updates next (``FOR UPDATE``)."""
    skip_locked: str
    """Appended to the ``SELECT`` of claimable queue rows (``... SKIP LOCKED``)."""
    queue_lock: str | None
    """A statement serialising claims that count live leases; ``None`` where the
    transaction's write lock does it already (SQLite's ``BEGIN IMMEDIATE``)."""
    key_lock: str | None
    """A statement serialising transactions on one key (its parameter); ``None`` where
    the transaction's write lock does it already."""
    list_param: bool
    """A list is one parameter (``= ANY(?)``), not one per item (``IN (?, ?)``)."""
    whole: str = "CAST({} AS INTEGER)"
    """The whole part of the non-negative REAL expression ``{}``, as an integer."""
    ilike: str = "LIKE"
    """The ``LIKE`` that ignores case (SQLite's own ``LIKE`` ignores ASCII case)."""
    id_like: str = "r.run_id LIKE"
    """A run id matched by a search word's prefix, ignoring case as ``ilike`` does, in
    words an index serves (PostgreSQL: ``lower(run_id)``, migration 24)."""
    json_text: str = "json_extract({}, '$.{}')"
    """The text of field ``{1}`` of the JSON object in the TEXT expression ``{0}``
    (``NULL`` where it has none)."""
    rounded: str = "CAST(printf('%.1e', {}) AS REAL)"
    """The non-negative REAL expression ``{}`` to two significant digits, half up on its
    exact value (``round_duration``)."""

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` is one of ``values``: the clause and its parameters."""
        if self.list_param:
            return f"{column} = ANY(?)", [list(values)]
        # IN (NULL) matches nothing, as an empty list should.
        return f"{column} IN ({', '.join('?' for _ in values) or 'NULL'})", list(values)


class Tx(Protocol):
    """Statements inside one transaction (``SQLBase._transaction``)."""

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Params = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...


class SQLBase(ABC):
    """The hooks the shared store code runs its statements through.

    ``area`` names the tables a failure is in ("cache", "API keys"), for its message.
    """

    dialect: ClassVar[Dialect]

    @abstractmethod
    async def _fetch(self, sql: str, params: Params = (), *, area: str = "") -> list[Row]:
        """The rows of one statement, run on its own."""

    async def _fetchone(self, sql: str, params: Params = (), *, area: str = "") -> Row | None:
        rows = await self._fetch(sql, params, area=area)
        return rows[0] if rows else None

    @abstractmethod
    async def _execute(self, sql: str, params: Params = (), *, area: str = "") -> int:
        """Run one statement on its own; how many rows it changed."""

    @abstractmethod
    async def _write(self, batch: Batch, *, area: str = "") -> None:
        """Run ``batch`` in one transaction, as fast as the backend can (no results)."""

    @abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        """A transaction that reads, then writes (``write``: it takes the write lock
        first where the backend has one); rolled back if the block raises."""

    async def _run_filter(self, query: RunFilter) -> tuple[str, list[Any]]:
        """``query`` (all but its limit) as a WHERE clause over ``runs r`` and its
        parameters; a backend with a search index of its own narrows the search first."""
        return run_filter_sql(query, self.dialect.ilike, id_like=self.dialect.id_like)

    @abstractmethod
    def _violation(self, exc: StoreError, of: frozenset[str] | None = None) -> str | None:
        """The driver's reason if ``exc`` is a broken constraint (one of ``of``, where the
        driver names it: PostgreSQL does, SQLite does not), else ``None``."""


def marks(columns: Sequence[str]) -> str:
    return ", ".join("?" for _ in columns)


def insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(columns)})"


def upsert(table: str, columns: Sequence[str]) -> str:
    """``INSERT`` replacing the whole row whose key (the first column) is taken already."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns[1:])
    return f"{insert(table, columns)} ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
