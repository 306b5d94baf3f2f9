"""The SQLite store's HTTP API keys (``api_keys``, migration 7): digests, never keys."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

from proctor.errors import StoreError
from proctor.store._records import ApiKeyRecord

_COLUMNS = tuple(f.name for f in fields(ApiKeyRecord))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM api_keys"
_INSERT = (
    f"INSERT INTO api_keys ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


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
