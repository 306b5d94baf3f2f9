"""Stores for tests: a fresh one of each backend, PostgreSQL's in a schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from proctor.store import MemoryStore, SQLiteStore, Store


def new_schema_url(server: str) -> tuple[str, str]:
    """A fresh schema name, and the store URL that selects it on ``server``.

    Commits do not wait for the disk (synchronous_commit=off): a test needs the
    database's semantics, not its durability, and it runs several times faster.
    """
    schema = f"t_{uuid.uuid4().hex[:12]}"
    joiner = "&" if "?" in server else "?"
    return schema, f"{server}{joiner}options=-csynchronous_commit%3Doff&schema={schema}"


async def drop_schema(server: str, schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@asynccontextmanager
async def backend_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Store]:
    """A fresh, empty store of ``backend`` (PostgreSQL: in a schema of its own)."""
    opened: Store
    schema: str | None = None
    server = ""
    if backend == "sqlite":
        opened = SQLiteStore(tmp_path / "store.db")
    elif backend == "postgres":
        from proctor.store import PostgresStore

        # Asked for here, not as an argument: SQLite's cases must not need the server.
        server = request.getfixturevalue("postgres_server")
        schema, url = new_schema_url(server)
        opened = PostgresStore(url, max_size=2)
    elif backend == "memory":
        opened = MemoryStore()
    else:  # pragma: no cover - a new backend must be wired here
        raise AssertionError(f"unknown store backend {backend!r}")
    try:
        yield opened
    finally:
        await opened.close()
        if schema is not None:
            await drop_schema(server, schema)
