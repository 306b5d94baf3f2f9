"""The PostgreSQL store's HTTP API keys (``api_keys``, migration 7): digests, never keys."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import psycopg

from proctor.errors import StoreError
from proctor.store._postgres_pool import PostgresConnection, _reason
from proctor.store._records import ApiKeyRecord

_COLUMNS = tuple(f.name for f in fields(ApiKeyRecord))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM api_keys"
_INSERT = (
    f"INSERT INTO api_keys ({', '.join(_COLUMNS)}) VALUES ({', '.join('%s' for _ in _COLUMNS)})"
)


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(**dict(zip(_COLUMNS, row, strict=True)))


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
