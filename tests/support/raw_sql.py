"""Editing a store's database behind its back, as someone with database access could."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from proctor.store import (
    EventRow,
    PostgresStore,
    SQLiteStore,
    Store,
    standard_chain_hash,
    standard_digest,
)


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


def next_row(rows: list[EventRow], meta: dict[str, Any], content: dict[str, Any]) -> EventRow:
    """The event after ``rows``, hashed as a keyed chain hashes (with the public code, no
    key: no MAC, no signature), as a newer Proctor or a forger would write it."""
    last = rows[-1]
    row = EventRow(
        run_id=last.run_id,
        seq=last.seq + 1,
        type=str(meta["type"]),
        ts=last.ts + 1,
        trace_id=last.trace_id,
        span_id="feedfacefeedface",
        parent_span_id=rows[0].span_id,
        meta=meta,
        content=content,
        content_digest=standard_digest(content),
        prev_hash=last.hash,
        hash="",
    )
    row.hash = standard_chain_hash(row.prev_hash, row.hashed_metadata())
    return row
