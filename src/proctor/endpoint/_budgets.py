"""Budgets that hold under concurrency: a call sets its cost aside before it is sent.

A key's budget is checked and reserved in one transaction of the store (``SpendHold``),
so calls racing on one key (in one process or in many sharing the store) can never all
pass one check and spend together. What a call sets aside is its projected cost: its
prompt, plus its ``max_tokens`` of output, at the dearest price on its route. A call
without ``max_tokens`` sets aside ``DEFAULT_HELD_OUTPUT_TOKENS`` of output, or what is
left of the budget if that is less and its prompt fits: such a call runs alone on the
last of a budget.

A store transaction per call would cost more than the rest of the call's work (and a
round trip to PostgreSQL each), so each process holds a *lease*: one hold of up to
``LEASE_SHARE`` of the key's budget, from which its calls take their part in memory.
When the lease runs short, or is ``LEASE_RENEW_S`` old, the process takes a new one and
gives the old one's unused part back. Every call's ledger row takes the call's part back
from its lease's hold and counts the actual cost, in one transaction; a row whose cost
is above its part is written at once, not batched, so the next call sees the real spend.
A process that dies leaves its lease to lapse after ``HOLD_TTL_S``. Near the end of a
budget, a lease is what is left: then one process may hold the last of it for up to
``LEASE_RENEW_S`` while others are refused.

The one overspend left is a call's actual cost beyond its part (an upstream writing past
``max_tokens``, a fallback to a model the route did not list, a prompt above its
estimate), bounded by one call per key at a time.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from proctor.endpoint._errors import ApiError
from proctor.endpoint._keys import ApiKey
from proctor.errors import StoreError
from proctor.store import SpendHold, Store

HOLD_TTL_S = 900.0
"""How long a lease counts if its process dies (its calls' rows never come)."""
LEASE_SHARE = 0.01
"""Of a key's budget, the most one process holds at once for its calls."""
LEASE_RENEW_S = 60.0
"""A lease older than this is given back and taken anew (well before it lapses)."""
DEFAULT_HELD_OUTPUT_TOKENS = 16_384
"""Output tokens held for a call that sets no ``max_tokens``."""


def period_start(period: str, now: float) -> float:
    """Start (epoch seconds) of the UTC ``day`` or ``month`` holding ``now``."""
    moment = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        moment = moment.replace(day=1)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Hold:
    """A call's part of a lease: the lease's hold id and the USD the call set aside."""

    id: str
    amount_usd: float


@dataclass(slots=True)
class _Lease:
    hold_id: str
    left_usd: float
    renew_at: float


class Budgets:
    """Sets a key's money aside for its calls in flight: leases in the store, parts of
    them in memory."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def hold(self, key: ApiKey, *, needed_usd: float, wanted_usd: float) -> Hold:
        """Set aside ``wanted_usd`` (at least ``needed_usd``) of ``key``'s budget, for the
        call's ledger row to give back. Raises ``ApiError`` (429) if it does not fit."""
        wanted_usd = max(wanted_usd, needed_usd)
        part = self._from_lease(key.name, wanted_usd)
        if part is not None:
            return part
        lock = self._locks.setdefault(key.name, asyncio.Lock())
        async with lock:
            part = self._from_lease(key.name, wanted_usd)  # another call renewed it
            if part is None:
                part = await self._new_lease(key, needed_usd, wanted_usd)
        return part

    def _from_lease(self, key_name: str, wanted_usd: float) -> Hold | None:
        lease = self._leases.get(key_name)
        if lease is None or lease.left_usd < wanted_usd or self._clock() >= lease.renew_at:
            return None
        lease.left_usd -= wanted_usd
        return Hold(lease.hold_id, wanted_usd)

    async def _new_lease(self, key: ApiKey, needed_usd: float, wanted_usd: float) -> Hold:
        assert key.budget_usd is not None
        old = self._leases.pop(key.name, None)
        give_back = None
        if old is not None and old.left_usd > 0:
            give_back = (old.hold_id, old.left_usd)  # in the same transaction
        now = self._clock()
        lease = SpendHold(
            hold_id=secrets.token_hex(12),
            key_name=key.name,
            amount_usd=max(wanted_usd, key.budget_usd * LEASE_SHARE),
            expires_at=now + HOLD_TTL_S,
        )
        try:
            held, committed = await self.store.hold_gateway_spend(
                lease,
                needed_usd=needed_usd,
                since=period_start(key.period, now),
                limit_usd=key.budget_usd,
                now=now,
                give_back=give_back,
            )
        except StoreError as exc:
            if old is not None:  # nothing was given back: the old lease still holds it
                self._leases[key.name] = old
            # A budget that cannot be checked is not spent on: refuse, and say why.
            raise ApiError(
                503,
                f"the gateway cannot check key {key.name!r}'s budget: {exc}. Retry later",
                kind="server_error",
                code="budget_unavailable",
                retry_after_s=5.0,
            ) from exc
        if held is None:
            raise _refused(key, needed_usd, committed)
        part = min(wanted_usd, held)
        self._leases[key.name] = _Lease(
            hold_id=lease.hold_id, left_usd=held - part, renew_at=now + LEASE_RENEW_S
        )
        return Hold(lease.hold_id, part)

    async def left(self, key: ApiKey) -> float:
        """USD ``key`` may still spend this period, by the calls written to the ledger
        (calls in flight, holding money, are not counted): for ``/metrics``."""
        assert key.budget_usd is not None
        since = period_start(key.period, self._clock())
        return key.budget_usd - await self.store.gateway_spend(key.name, since)


def _refused(key: ApiKey, needed_usd: float, committed_usd: float) -> ApiError:
    assert key.budget_usd is not None
    left = key.budget_usd - committed_usd
    if left <= 0:
        message = (
            f"key {key.name!r} has spent its budget of ${key.budget_usd:g} for this "
            f"{key.period} (UTC), counting calls in flight; it renews at the start of the "
            f"next {key.period}"
        )
    else:
        message = (
            f"refused before sending: the call may cost ${needed_usd:.6f} (its prompt and "
            f"max_tokens at its route's dearest price), more than the ${left:.6f} left of key "
            f"{key.name!r}'s budget for this {key.period}, counting calls in flight. Fix: "
            "lower max_tokens, or retry when calls in flight have finished"
        )
    return ApiError(429, message, kind="insufficient_quota", code="budget_exceeded")
