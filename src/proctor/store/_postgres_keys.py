"""The PostgreSQL store's HTTP API keys (``api_keys``, migration 7) and UI sessions
(``sessions``, migration 10): digests, never keys or session secrets."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import psycopg

from proctor.errors import StoreError
from proctor.store._postgres_pool import PostgresConnection, _reason
from proctor.store._records import ApiKeyRecord, SessionRecord

_COLUMNS = tuple(f.name for f in fields(ApiKeyRecord))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM api_keys"
_INSERT = (
    f"INSERT INTO api_keys ({', '.join(_COLUMNS)}) VALUES ({', '.join('%s' for _ in _COLUMNS)})"
)


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(**dict(zip(_COLUMNS, row, strict=True)))


_SESSION_COLUMNS = tuple(f.name for f in fields(SessionRecord))
_SESSIONS = ", ".join(_SESSION_COLUMNS)


def _session(row: tuple[Any, ...] | None) -> SessionRecord | None:
    return None if row is None else SessionRecord(**dict(zip(_SESSION_COLUMNS, row, strict=True)))


class PostgresApiKeys(PostgresConnection):
    """``Store``'s API key methods, for ``PostgresStore``."""

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        async with self._connection() as conn:
            try:
                await conn.execute(_INSERT, tuple(getattr(record, column) for column in _COLUMNS))
            except psycopg.IntegrityError as exc:
                raise StoreError(f"could not save the API key: {_reason(exc)}") from exc

    async def api_key(self, secret_hash: str) -> ApiKeyRecord | None:
        row = await self._fetchone(f"{_SELECT} WHERE secret_hash = %s", (secret_hash,))
        return None if row is None else _key(row)

    async def api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        where, params = ("WHERE tenant = %s", (tenant,)) if tenant is not None else ("", ())
        rows = await self._fetch(f"{_SELECT} {where} ORDER BY created_at DESC, key_id", params)
        return [_key(row) for row in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        # One round trip. The UPDATE's effect is invisible to the rest of the statement,
        # so the key is read back from RETURNING, or as stored when it was revoked already.
        columns = ", ".join(_COLUMNS)
        row = await self._fetchone(
            f"WITH revoked AS (UPDATE api_keys SET revoked_at = %s "
            f"WHERE key_id = %s AND revoked_at IS NULL RETURNING {columns}) "
            f"SELECT {columns} FROM revoked UNION ALL {_SELECT} "
            "WHERE key_id = %s AND NOT EXISTS (SELECT 1 FROM revoked)",
            (at, key_id, key_id),
        )
        return None if row is None else _key(row)

    async def save_session(self, record: SessionRecord) -> None:
        async with self._pipelined() as cursor:
            await cursor.execute("DELETE FROM sessions WHERE expires_at < %s", (record.created_at,))
            await cursor.execute(
                f"INSERT INTO sessions ({_SESSIONS}) "
                f"VALUES ({', '.join('%s' for _ in _SESSION_COLUMNS)})",
                tuple(getattr(record, column) for column in _SESSION_COLUMNS),
            )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return _session(
            await self._fetchone(
                f"SELECT {_SESSIONS} FROM sessions WHERE session_id = %s", (session_id,)
            )
        )

    async def end_session(self, session_id: str, at: float) -> SessionRecord | None:
        # As revoke_api_key: the first end time stays, read back in one round trip.
        return _session(
            await self._fetchone(
                f"WITH ended AS (UPDATE sessions SET ended_at = %s "
                f"WHERE session_id = %s AND ended_at IS NULL RETURNING {_SESSIONS}) "
                f"SELECT {_SESSIONS} FROM ended UNION ALL SELECT {_SESSIONS} FROM sessions "
                "WHERE session_id = %s AND NOT EXISTS (SELECT 1 FROM ended)",
                (at, session_id, session_id),
            )
        )
