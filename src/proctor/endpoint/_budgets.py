"""Budgets that hold under concurrency: a call sets its cost aside before it is sent.

A key's budget is checked and reserved in one transaction of the store (``SpendHold``),
so calls racing on one key (in one process or in many sharing the store) can never all
pass one check and spend together. The hold is the call's projected cost: its prompt,
plus its ``max_tokens`` of output, at the dearest price on its route. A call without
``max_tokens`` holds ``DEFAULT_HELD_OUTPUT_TOKENS`` of output, or what is left of the
budget if that is less and its prompt fits: such a call runs alone on the last of a
budget. The call's ledger row releases the hold and counts the actual cost, in one
transaction. A hold of a process that died lapses after ``HOLD_TTL_S``.

The one overspend left is a call's actual cost beyond its hold (an upstream writing past
``max_tokens``, a fallback to a model the route did not list, an estimate of the prompt
below its count), bounded by one call per key at a time.
"""

from __future__ import annotations

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
"""How long a hold counts if its call's row never comes (its process died)."""
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
    """A call's hold: its id and the USD it set aside."""

    id: str
    amount_usd: float


class Budgets:
    """Holds a key's money for its calls in flight, in the store."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    async def hold(self, key: ApiKey, *, needed_usd: float, wanted_usd: float) -> Hold:
        """Set aside ``wanted_usd`` (at least ``needed_usd``) of ``key``'s budget, for the
        call's ledger row to release. Raises ``ApiError`` (429) if it does not fit."""
        assert key.budget_usd is not None
        now = self._clock()
        hold = SpendHold(
            hold_id=secrets.token_hex(12),
            key_name=key.name,
            amount_usd=max(wanted_usd, needed_usd),
            expires_at=now + HOLD_TTL_S,
        )
        try:
            held, committed = await self.store.hold_gateway_spend(
                hold,
                needed_usd=needed_usd,
                since=period_start(key.period, now),
                limit_usd=key.budget_usd,
                now=now,
            )
        except StoreError as exc:
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
        return Hold(hold.hold_id, held)

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
