"""The store's budget holds (every backend): a key's spend and its calls in flight,
checked and reserved in one step."""

from __future__ import annotations

import asyncio

import pytest

from proctor.store import GatewayCallRecord, SpendHold, Store

DAY = 86_400.0
NOW = 1_000 * DAY + 3_600  # an hour into a UTC day


async def hold(
    store: Store, hold_id: str, amount: float, *, needed: float | None = None, now: float = NOW
) -> tuple[float | None, float]:
    wanted = SpendHold(hold_id=hold_id, key_name="team", amount_usd=amount, expires_at=now + 60)
    return await store.hold_gateway_spend(
        wanted,
        needed_usd=amount if needed is None else needed,
        since=now - now % DAY,
        limit_usd=1.0,
        now=now,
    )


def row(cost: float | None, ts: float = NOW, key: str = "team") -> GatewayCallRecord:
    return GatewayCallRecord(ts=ts, key_name=key, route="small", cost_usd=cost)


async def test_holds_count_until_their_rows_release_them(store: Store) -> None:
    assert await hold(store, "a", 0.5) == (0.5, 0.0)
    assert await hold(store, "b", 0.25) == (0.25, 0.5)
    assert await hold(store, "c", 0.5) == (None, 0.75)  # refused: 0.25 left
    # A row releases its hold and counts what the call cost, in one transaction.
    await store.record_gateway_calls([row(0.125)], release=[("a", 0.5)])
    assert await hold(store, "c", 0.5) == (0.5, 0.375)
    await store.record_gateway_calls([row(None)], release=[("b", 0.25), ("c", 0.5)])  # failed
    assert await hold(store, "d", 1.0) == (None, 0.125)


async def test_a_hold_shared_by_calls_is_taken_back_part_by_part(store: Store) -> None:
    assert await hold(store, "lease", 0.75) == (0.75, 0.0)
    await store.record_gateway_calls([row(0.25)], release=[("lease", 0.25)])
    # 0.25 spent and 0.5 still held: a call wanting 1.0 gets the last quarter...
    assert await hold(store, "x", 1.0, needed=0.0) == (0.25, 0.75)
    # ...and the shared hold's unused half comes back with the next hold, in its transaction.
    wanted = SpendHold(hold_id="next", key_name="team", amount_usd=0.5, expires_at=NOW + 60)
    held, committed = await store.hold_gateway_spend(
        wanted,
        needed_usd=0.5,
        since=NOW - NOW % DAY,
        limit_usd=1.0,
        now=NOW,
        give_back=("lease", 0.5),
    )
    assert (held, committed) == (0.5, 0.5)  # spent 0.25, "x" 0.25


async def test_a_call_needing_less_than_it_wants_takes_what_is_left(store: Store) -> None:
    assert await hold(store, "a", 0.75) == (0.75, 0.0)
    assert await hold(store, "b", 0.5, needed=0.125) == (0.25, 0.75)  # the last quarter
    assert await hold(store, "c", 0.5, needed=0.0) == (None, 1.0)  # nothing left at all


async def test_only_this_period_and_live_holds_count(store: Store) -> None:
    await store.record_gateway_calls(
        [row(0.75, ts=NOW - DAY), row(0.5, key="other"), row(0.25)]  # yesterday, another key
    )
    assert await hold(store, "a", 0.5) == (0.5, 0.25)
    # An hour later the hold of a process that died has lapsed.
    assert await hold(store, "b", 0.75, now=NOW + 3_600) == (0.75, 0.25)


async def test_concurrent_holds_never_pass_the_limit_together(store: Store) -> None:
    results = await asyncio.gather(*(hold(store, f"h{n}", 0.3) for n in range(20)))
    assert sum(1 for held, _ in results if held is not None) == 3
    assert sorted(committed for held, committed in results if held is not None) == pytest.approx(
        [0.0, 0.3, 0.6]
    )
