"""``MemoryStore``'s tables beside the runs: the response cache, the endpoint's call
ledger, eval results, API keys and UI sessions, as the SQL stores keep them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from proctor.errors import StoreError, UsageError
from proctor.store._records import (
    ApiKeyRecord,
    DeliveryRecord,
    EvalResultRecord,
    GatewayCallRecord,
    SessionRecord,
    SpendHold,
)
from proctor.store._rows import daily_spend, hold_amount
from proctor.store._usage import GatewayUsage, UsageDimension, check_usage_dimensions, fold_usage


class MemoryTables:
    """``ResponseCache``, ``CallLedger``, ``EvalResults``, ``Deliveries``, ``ApiKeys`` and
    ``Sessions``."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._calls: list[GatewayCallRecord] = []
        self._spend: dict[tuple[str, float], float] = {}
        self._holds: dict[str, SpendHold] = {}
        self._eval_results: dict[str, EvalResultRecord] = {}
        self._keys: dict[str, ApiKeyRecord] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._deliveries: dict[str, DeliveryRecord] = {}

    async def cache_get(self, key: str, now: float) -> bytes | None:
        entry = self._cache.get(key)
        return entry[0] if entry is not None and entry[1] > now else None

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        self._cache[key] = (bytes(value), expires_at)

    async def cache_put_many(self, entries: Sequence[tuple[str, bytes, float]]) -> None:
        for key, value, expires_at in entries:
            self._cache[key] = (bytes(value), expires_at)

    async def cache_purge(self, now: float) -> int:
        expired = [key for key, (_, expires_at) in self._cache.items() if expires_at <= now]
        for key in expired:
            del self._cache[key]
        return len(expired)

    async def record_gateway_calls(
        self, calls: Sequence[GatewayCallRecord], *, release: Sequence[tuple[str, float]] = ()
    ) -> None:
        self._calls.extend(calls)
        for day, cost in daily_spend(calls).items():
            self._spend[day] = self._spend.get(day, 0.0) + cost
        self._take_back(release)

    def _take_back(self, release: Sequence[tuple[str, float]]) -> None:
        for hold_id, usd in release:
            hold = self._holds.get(hold_id)
            if hold is None:
                continue
            left = hold.amount_usd - usd
            if left <= 1e-12:
                del self._holds[hold_id]
            else:
                self._holds[hold_id] = dataclasses.replace(hold, amount_usd=left)

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
        if give_back is not None:
            self._take_back([give_back])
        key = hold.key_name
        for lapsed in [h.hold_id for h in self._holds.values() if h.expires_at <= now]:
            del self._holds[lapsed]
        spent = sum(c for (k, day), c in self._spend.items() if k == key and day >= since)
        held = sum(h.amount_usd for h in self._holds.values() if h.key_name == key)
        amount = hold_amount(hold, needed_usd, limit_usd, committed := spent + held)
        if amount is not None:
            self._holds[hold.hold_id] = dataclasses.replace(hold, amount_usd=amount)
        return amount, committed

    async def gateway_spend(self, key_name: str, since: float) -> float:
        return float(
            sum(
                call.cost_usd or 0.0
                for call in self._calls
                if call.key_name == key_name and call.ts >= since
            )
        )

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        # Newest first, and of one time the later recorded first (the ledger's row id).
        found = [
            (call.ts, n, call)
            for n, call in enumerate(self._calls)
            if key_name is None or call.key_name == key_name
        ]
        found.sort(reverse=True, key=lambda entry: entry[:2])
        return [call for _, _, call in found[:limit]]

    async def gateway_usage(
        self,
        by: Sequence[UsageDimension],
        *,
        since: float | None = None,
        until: float | None = None,
        key_name: str | None = None,
    ) -> list[GatewayUsage]:
        return fold_usage(check_usage_dimensions(by), self._calls, since, until, key_name)

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        self._eval_results.setdefault(record.result_id, record)

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        found = [
            dataclasses.replace(record, body=None)
            for record in self._eval_results.values()
            if (suite is None or record.suite == suite)
            and (tenant is None or record.tenant == tenant)
            and record.result_id.startswith(id_prefix)
        ]
        found.sort(key=lambda record: (record.created_at, record.result_id), reverse=True)
        return found[:limit]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        return self._eval_results.get(result_id)

    async def claim_delivery(self, record: DeliveryRecord) -> bool:
        key = (record.subject_id, record.channel, record.attempt)
        if record.delivery_id in self._deliveries or any(
            (d.subject_id, d.channel, d.attempt) == key for d in self._deliveries.values()
        ):
            return False
        self._deliveries[record.delivery_id] = record
        return True

    async def settle_delivery(self, record: DeliveryRecord) -> None:
        if record.delivery_id in self._deliveries:
            self._deliveries[record.delivery_id] = record

    async def deliveries(
        self, subject_ids: Sequence[str] | None = None, *, limit: int = 1000
    ) -> list[DeliveryRecord]:
        wanted = None if subject_ids is None else set(subject_ids)
        found = [d for d in self._deliveries.values() if wanted is None or d.subject_id in wanted]
        found.sort(key=lambda d: (d.at, d.attempt, d.delivery_id))
        return found[:limit]

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        if record.key_id in self._keys or any(
            key.secret_hash == record.secret_hash for key in self._keys.values()
        ):
            raise StoreError(f"could not save the API key: {record.key_id} exists already")
        self._keys[record.key_id] = record

    async def api_key(self, secret_hash: str) -> ApiKeyRecord | None:
        return next((k for k in self._keys.values() if k.secret_hash == secret_hash), None)

    async def api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        found = [k for k in self._keys.values() if tenant is None or k.tenant == tenant]
        return sorted(found, key=lambda k: (-k.created_at, k.key_id))

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        key = self._keys.get(key_id)
        if key is not None and key.revoked_at is None:
            key = self._keys[key_id] = dataclasses.replace(key, revoked_at=at)
        return key

    async def save_session(self, record: SessionRecord) -> None:
        # As the SQL stores: sessions expired before this one was created are deleted.
        kept = {
            key: session
            for key, session in self._sessions.items()
            if session.expires_at >= record.created_at
        }
        if record.session_id in kept:
            raise StoreError(f"could not save the session: {record.session_id} exists already")
        kept[record.session_id] = record
        self._sessions = kept

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def end_session(self, session_id: str, at: float) -> SessionRecord | None:
        session = self._sessions.get(session_id)
        if session is not None and session.ended_at is None:
            session = self._sessions[session_id] = dataclasses.replace(session, ended_at=at)
        return session
