"""Editing a store's database behind its back, as someone with database access could."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from proctor.store import PostgresStore, SQLiteStore, Store


async def execute_raw(store: Store, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run one statement (``?`` marks a parameter) on ``store``'s own database."""
    if isinstance(store, SQLiteStore):
        with closing(sqlite3.connect(store.path)) as db:
            db.execute(sql, params)
            db.commit()
    elif isinstance(store, PostgresStore):
        async with store._connection() as conn:
            await conn.execute(sql.replace("?", "%s"), params)
    else:  # pragma: no cover - a new backend must be wired here
        raise AssertionError(f"no raw access to a {type(store).__name__}")
