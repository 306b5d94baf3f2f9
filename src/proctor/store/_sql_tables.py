"""The tables beside the runs, in SQL written once: the response cache, the endpoint's
call ledger, eval results, API keys and UI sessions (digests, never keys or secrets)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from proctor.errors import StoreError, UsageError
from proctor.store._records import (
    ApiKeyRecord,
    DeliveryRecord,
    EvalResultRecord,
    GatewayCallRecord,
    SessionRecord,
    SpendHold,
)
from proctor.store._rows import (
    CALL_COLUMNS,
    EVAL_COLUMNS,
    EVAL_SUMMARY,
    call_from_row,
    call_params,
    daily_spend,
    eval_from_row,
    eval_params,
    eval_results_sql,
    hold_amount,
)
from proctor.store._sql_base import SQLBase, insert
from proctor.store._usage import (
    GatewayUsage,
    UsageDimension,
    check_usage_dimensions,
    usage_from_rows,
    usage_sql,
)

KEY_COLUMNS = tuple(f.name for f in fields(ApiKeyRecord))
DELIVERY_COLUMNS = tuple(f.name for f in fields(DeliveryRecord))
# Any conflict (its id, or its subject, channel and attempt): the claim is someone else's.
INSERT_DELIVERY = insert("notification_deliveries", DELIVERY_COLUMNS) + " ON CONFLICT DO NOTHING"
SETTLE_DELIVERY = (
    "UPDATE notification_deliveries SET at = ?, ok = ?, detail = ?, next_at = ? "
    "WHERE delivery_id = ?"
)
SELECT_DELIVERIES = f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM notification_deliveries"
SESSION_COLUMNS = tuple(f.name for f in fields(SessionRecord))
key_params = operator.attrgetter(*KEY_COLUMNS)
session_params = operator.attrgetter(*SESSION_COLUMNS)


def key_from_row(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(**dict(zip(KEY_COLUMNS, row, strict=True)))


def session_from_row(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(**dict(zip(SESSION_COLUMNS, row, strict=True)))


CACHE_GET = "SELECT value FROM cache WHERE key = ? AND expires_at > ?"
CACHE_PUT = (
    "INSERT INTO cache (key, value, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)
CACHE_PURGE = "DELETE FROM cache WHERE expires_at <= ?"

INSERT_CALL = insert("gateway_calls", CALL_COLUMNS)
SPEND = "SELECT COALESCE(SUM(cost_usd), 0) FROM gateway_calls WHERE key_name = ? AND ts >= ?"
SELECT_CALLS = f"SELECT {', '.join(CALL_COLUMNS)} FROM gateway_calls"
ADD_SPEND = (
    "INSERT INTO gateway_spend (key_name, day, cost_usd) VALUES (?, ?, ?) "
    "ON CONFLICT (key_name, day) DO UPDATE SET cost_usd = gateway_spend.cost_usd + "
    "excluded.cost_usd"
)
TAKE_FROM_HOLD = "UPDATE gateway_holds SET amount_usd = amount_usd - ? WHERE hold_id = ?"
DROP_EMPTY_HOLD = "DELETE FROM gateway_holds WHERE hold_id = ? AND amount_usd <= ?"
EMPTY_USD = 1e-12
"""What is left of a hold after float subtractions that took it all."""
COMMITTED = (
    "SELECT (SELECT COALESCE(SUM(cost_usd), 0) FROM gateway_spend WHERE key_name = ? "
    "AND day >= ?), (SELECT COALESCE(SUM(amount_usd), 0) FROM gateway_holds "
    "WHERE key_name = ? AND expires_at > ?)"
)
SWEEP_HOLDS_S = 60.0
"""How often a store deletes a key's lapsed holds (they count for nothing already)."""
LAPSE_HOLDS = "DELETE FROM gateway_holds WHERE key_name = ? AND expires_at <= ?"
INSERT_HOLD = insert("gateway_holds", ("hold_id", "key_name", "amount_usd", "expires_at"))

INSERT_EVAL = f"{insert('eval_results', EVAL_COLUMNS)} ON CONFLICT (result_id) DO NOTHING"
SELECT_EVAL = f"SELECT {', '.join(EVAL_COLUMNS)} FROM eval_results WHERE result_id = ?"

INSERT_KEY = insert("api_keys", KEY_COLUMNS)
SELECT_KEYS = f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys"
# A revoked key keeps its first time: the UPDATE then changes nothing, and the key is
# read as stored.
REVOKE_KEY = (
    "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL "
    f"RETURNING {', '.join(KEY_COLUMNS)}"
)

INSERT_SESSION = insert("sessions", SESSION_COLUMNS)
DELETE_EXPIRED_SESSIONS = "DELETE FROM sessions WHERE expires_at < ?"
SELECT_SESSION = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE session_id = ?"
END_SESSION = (
    "UPDATE sessions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL "
    f"RETURNING {', '.join(SESSION_COLUMNS)}"
)


class SQLTables(SQLBase):
    """``ResponseCache``, ``CallLedger``, ``EvalResults``, ``ApiKeys`` and ``Sessions``
    over the dialect hooks."""

    # The cache: a miss is cheaper than a failed call, so callers may treat StoreError as one.

    async def cache_get(self, key: str, now: float) -> bytes | None:
        row = await self._fetchone(CACHE_GET, (key, now), area="cache")
        return None if row is None else bytes(row[0])

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        await self._execute(CACHE_PUT, (key, value, expires_at), area="cache")

    async def cache_put_many(self, entries: Sequence[tuple[str, bytes, float]]) -> None:
        if entries:
            await self._write([(CACHE_PUT, list(entries))], area="cache")

    async def cache_purge(self, now: float) -> int:
        return await self._execute(CACHE_PURGE, (now,), area="cache")

    # The endpoint's call ledger: written in batches, one transaction each.

    async def record_gateway_calls(
        self, calls: Sequence[GatewayCallRecord], *, release: Sequence[tuple[str, float]] = ()
    ) -> None:
        if not calls and not release:
            return
        spend = daily_spend(calls)
        await self._write(
            [
                (INSERT_CALL, [call_params(call) for call in calls]),
                (ADD_SPEND, [(key, day, cost) for (key, day), cost in spend.items()]),
                (TAKE_FROM_HOLD, [(usd, hold_id) for hold_id, usd in release]),
                (DROP_EMPTY_HOLD, [(hold_id, EMPTY_USD) for hold_id, _ in release]),
            ],
            area="call ledger",
        )

    async def hold_gateway_spend(
        self,
        hold: SpendHold,
        *,
        needed_usd: float,
        since: float,
        limit_usd: float,
        now: float,
        give_back: tuple[str, float] | None = None,
    ) -> tuple[float | None, float]:
        key = hold.key_name
        sweeps: dict[str, float] = vars(self).setdefault("_holds_swept", {})  # per store
        swept = sweeps.get(key, 0.0)
        async with self._transaction() as tx:
            if self.dialect.key_lock is not None:
                await tx.execute(self.dialect.key_lock, (f"budget:{key}",))
            if give_back is not None:
                hold_id, usd = give_back
                await tx.execute(TAKE_FROM_HOLD, (usd, hold_id))
                await tx.execute(DROP_EMPTY_HOLD, (hold_id, EMPTY_USD))
            if now - swept > SWEEP_HOLDS_S:  # housekeeping: lapsed holds count for nothing
                await tx.execute(LAPSE_HOLDS, (key, now))
                sweeps[key] = now
            spent, held = (await tx.fetch(COMMITTED, (key, since, key, now)))[0]
            committed = float(spent) + float(held)
            amount = hold_amount(hold, needed_usd, limit_usd, committed)
            if amount is not None:
                await tx.execute(INSERT_HOLD, (hold.hold_id, key, amount, hold.expires_at))
        return amount, committed

    async def gateway_spend(self, key_name: str, since: float) -> float:
        row = await self._fetchone(SPEND, (key_name, since))
        return 0.0 if row is None else float(row[0])

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        where, params = ("WHERE key_name = ?", [key_name]) if key_name is not None else ("", [])
        rows = await self._fetch(
            f"{SELECT_CALLS} {where} ORDER BY ts DESC, id DESC LIMIT ?", (*params, limit)
        )
        return [call_from_row(row) for row in rows]

    async def gateway_usage(
        self,
        by: Sequence[UsageDimension],
        *,
        since: float | None = None,
        until: float | None = None,
        key_name: str | None = None,
    ) -> list[GatewayUsage]:
        dimensions = check_usage_dimensions(by)
        sql, params = usage_sql(dimensions, since, until, key_name)
        return usage_from_rows(dimensions, await self._fetch(sql, params, area="call ledger"))

    # Eval results: a prefix is matched with substr, and a repeated id is left as stored.

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        await self._execute(INSERT_EVAL, eval_params(record), area="eval results")

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        sql, params = eval_results_sql(suite, id_prefix, tenant, limit)
        rows = await self._fetch(sql, params, area="eval results")
        return [eval_from_row(row, EVAL_SUMMARY) for row in rows]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        row = await self._fetchone(SELECT_EVAL, (result_id,), area="eval results")
        return None if row is None else eval_from_row(row)

    # The notification delivery log.

    async def claim_delivery(self, record: DeliveryRecord) -> bool:
        params = tuple(getattr(record, name) for name in DELIVERY_COLUMNS)
        return await self._execute(INSERT_DELIVERY, params, area="notification deliveries") == 1

    async def settle_delivery(self, record: DeliveryRecord) -> None:
        params = (record.at, record.ok, record.detail, record.next_at, record.delivery_id)
        await self._execute(SETTLE_DELIVERY, params, area="notification deliveries")

    async def deliveries(
        self, subject_ids: Sequence[str] | None = None, *, limit: int = 1000
    ) -> list[DeliveryRecord]:
        where, params = "", tuple[str, ...]()
        if subject_ids is not None:
            if not subject_ids:
                return []
            where = f" WHERE subject_id IN ({', '.join('?' for _ in subject_ids)})"
            params = tuple(subject_ids)
        rows = await self._fetch(
            f"{SELECT_DELIVERIES}{where} ORDER BY at, attempt, delivery_id LIMIT ?",
            (*params, limit),
            area="notification deliveries",
        )
        return [
            DeliveryRecord(**dict(zip(DELIVERY_COLUMNS, row, strict=True)) | {"ok": bool(row[5])})
            for row in rows
        ]

    # API keys and UI sessions.

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        try:
            await self._execute(INSERT_KEY, key_params(record), area="API keys")
        except StoreError as exc:
            reason = self._violation(exc)
            if reason is None:
                raise
            raise StoreError(f"could not save the API key: {reason}") from exc.__cause__

    async def api_key(self, secret_hash: str) -> ApiKeyRecord | None:
        row = await self._fetchone(
            f"{SELECT_KEYS} WHERE secret_hash = ?", (secret_hash,), area="API keys"
        )
        return None if row is None else key_from_row(row)

    async def api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        where, params = ("WHERE tenant = ?", [tenant]) if tenant is not None else ("", [])
        rows = await self._fetch(
            f"{SELECT_KEYS} {where} ORDER BY created_at DESC, key_id", params, area="API keys"
        )
        return [key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        row = await self._fetchone(REVOKE_KEY, (at, key_id), area="API keys")
        if row is None:
            row = await self._fetchone(
                f"{SELECT_KEYS} WHERE key_id = ?", (key_id,), area="API keys"
            )
        return None if row is None else key_from_row(row)

    async def save_session(self, record: SessionRecord) -> None:
        # One transaction: the housekeeping and the new row.
        await self._write(
            [
                (DELETE_EXPIRED_SESSIONS, [(record.created_at,)]),
                (INSERT_SESSION, [session_params(record)]),
            ],
            area="sessions",
        )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        row = await self._fetchone(SELECT_SESSION, (session_id,), area="sessions")
        return None if row is None else session_from_row(row)

    async def end_session(self, session_id: str, at: float) -> SessionRecord | None:
        # As revoke_api_key: an ended session keeps its first end time.
        row = await self._fetchone(END_SESSION, (at, session_id), area="sessions")
        if row is None:
            row = await self._fetchone(SELECT_SESSION, (session_id,), area="sessions")
        return None if row is None else session_from_row(row)
