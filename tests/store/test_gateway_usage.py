"""Spend from the gateway's call ledger by key, route, model and day (every backend)."""

from __future__ import annotations

import pytest

from proctor.errors import UsageError
from proctor.store import GatewayCallRecord, GatewayUsage, Store

DAY = 86_400.0
MAY_1 = 1_777_593_600.0  # 2026-05-01T00:00:00Z


def call(
    ts: float,
    key: str,
    *,
    model: str | None = "gpt-4o-mini",
    cost: float | None = 0.25,
    status: int = 200,
    hit: bool = False,
) -> GatewayCallRecord:
    return GatewayCallRecord(
        ts=ts,
        key_name=key,
        route="default",
        deployment=None if model is None else "small",
        model=model,
        input_tokens=100 if model else 0,
        output_tokens=10 if model else 0,
        cost_usd=cost,
        latency_ms=12.0,
        cache_hit=hit,
        status=status,
        error=None if status < 400 else "upstream_error",
    )


CALLS = [
    call(MAY_1 + 10, "team-a"),
    call(MAY_1 + 20, "team-a", cost=0.0, hit=True),
    call(MAY_1 + 30, "team-b", model="gpt-4o", cost=2.0),
    call(MAY_1 + 40, "team-b", model=None, cost=None, status=502),
    call(MAY_1 + DAY - 0.5, "team-a", model="my-llama", cost=None),  # unpriced, same day
    call(MAY_1 + DAY + 5, "team-a", cost=0.5),
]


@pytest.fixture
async def ledger(store: Store) -> Store:
    await store.record_gateway_calls(CALLS)
    return store


async def test_spend_by_key(ledger: Store) -> None:
    assert await ledger.gateway_usage(["key"]) == [
        GatewayUsage(
            key_name="team-b",
            calls=2,
            errors=1,
            input_tokens=100,
            output_tokens=10,
            cost_usd=2.0,
        ),
        GatewayUsage(
            key_name="team-a",
            calls=4,
            input_tokens=400,
            output_tokens=40,
            cost_usd=0.75,
            unpriced=1,
            cache_hits=1,
        ),
    ]


async def test_spend_by_day_and_model(ledger: Store) -> None:
    found = await ledger.gateway_usage(["day", "model"])
    assert [(r.day, r.model, r.calls, r.cost_usd) for r in found] == [
        ("2026-05-01", "gpt-4o", 1, 2.0),
        ("2026-05-01", "gpt-4o-mini", 2, 0.25),
        ("2026-05-01", "", 1, 0.0),  # no model answered
        ("2026-05-01", "my-llama", 1, 0.0),
        ("2026-05-02", "gpt-4o-mini", 1, 0.5),
    ]
    assert all(r.key_name is None and r.route is None for r in found)


async def test_since_until_and_one_key(ledger: Store) -> None:
    found = await ledger.gateway_usage(["key", "route"], since=MAY_1 + 15, until=MAY_1 + DAY)
    assert [(r.key_name, r.route, r.calls) for r in found] == [
        ("team-b", "default", 2),
        ("team-a", "default", 2),
    ]
    only = await ledger.gateway_usage(["day"], key_name="team-b")
    assert [(r.day, r.calls, r.errors) for r in only] == [("2026-05-01", 2, 1)]
    assert await ledger.gateway_usage(["key"], key_name="nobody") == []


async def test_no_grouping_is_one_total_and_nothing_is_no_row(ledger: Store) -> None:
    (total,) = await ledger.gateway_usage([])
    assert (total.calls, total.cost_usd, total.unpriced) == (6, 2.75, 1)
    assert await ledger.gateway_usage([], since=MAY_1 + 10 * DAY) == []


async def test_an_unknown_dimension_is_refused(store: Store) -> None:
    with pytest.raises(UsageError, match="cannot group gateway usage by 'tenant'"):
        await store.gateway_usage(["key", "tenant"])  # type: ignore[list-item]


async def test_token_details_are_kept_and_summed(store: Store) -> None:
    detailed = [
        GatewayCallRecord(
            ts=MAY_1 + n,
            key_name="team-c",
            route="default",
            model="o4-mini",
            input_tokens=1_000,
            output_tokens=500,
            cached_input_tokens=800,
            cache_write_tokens=100,
            reasoning_tokens=300,
            cost_usd=0.01,
        )
        for n in range(2)
    ]
    await store.record_gateway_calls(detailed)
    assert (await store.gateway_calls("team-c"))[0].cache_write_tokens == 100
    (row,) = await store.gateway_usage(["key"], key_name="team-c")
    assert (row.input_tokens, row.cached_input_tokens) == (2_000, 1_600)
    assert (row.output_tokens, row.reasoning_tokens) == (1_000, 600)
