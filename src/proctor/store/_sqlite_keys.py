"""The SQLite store's HTTP API keys (``api_keys``, migration 7) and UI sessions
(``sessions``, migration 10): digests, never keys or session secrets."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

from proctor.errors import StoreError
from proctor.store._records import ApiKeyRecord, SessionRecord

_COLUMNS = tuple(f.name for f in fields(ApiKeyRecord))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM api_keys"
_INSERT = (
    f"INSERT INTO api_keys ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)

_SESSION_COLUMNS = tuple(f.name for f in fields(SessionRecord))
_SELECT_SESSION = f"SELECT {', '.join(_SESSION_COLUMNS)} FROM sessions WHERE session_id = ?"


def _session(row: tuple[Any, ...] | None) -> SessionRecord | None:
    return None if row is None else SessionRecord(**dict(zip(_SESSION_COLUMNS, row, strict=True)))


class SQLiteApiKeys:
    """``Store``'s API key methods, for ``SQLiteStore`` (which supplies the connection)."""

    path: Path
    _db: sqlite3.Connection

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        self._keys_execute(_INSERT, tuple(getattr(record, column) for column in _COLUMNS))

    async def api_key(self, secret_hash: str) -> ApiKeyRecord | None:
        row = self._keys_execute(f"{_SELECT} WHERE secret_hash = ?", (secret_hash,)).fetchone()
        return None if row is None else ApiKeyRecord(**dict(zip(_COLUMNS, row, strict=True)))

    async def api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        rows = self._keys_execute(
            f"{_SELECT} {where} ORDER BY created_at DESC, key_id", params
        ).fetchall()
        return [ApiKeyRecord(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        self._keys_execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (at, key_id),
        )
        row = self._keys_execute(f"{_SELECT} WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else ApiKeyRecord(**dict(zip(_COLUMNS, row, strict=True)))

    async def save_session(self, record: SessionRecord) -> None:
        values = tuple(getattr(record, column) for column in _SESSION_COLUMNS)
        with self._db:  # one transaction: the housekeeping and the new row
            self._keys_execute("DELETE FROM sessions WHERE expires_at < ?", (record.created_at,))
            self._keys_execute(
                f"INSERT INTO sessions ({', '.join(_SESSION_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _SESSION_COLUMNS)})",
                values,
            )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return _session(self._keys_execute(_SELECT_SESSION, (session_id,)).fetchone())

    async def end_session(self, session_id: str, at: float) -> SessionRecord | None:
        self._keys_execute(
            "UPDATE sessions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL",
            (at, session_id),
        )
        return _session(self._keys_execute(_SELECT_SESSION, (session_id,)).fetchone())

    def _keys_execute(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"could not save the API key: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(
                f"the API keys in the store at {self.path} failed: {exc}. "
                "Check the file is writable and not locked by another program"
            ) from exc
