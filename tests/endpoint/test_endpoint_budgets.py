"""Budgets that hold under concurrency: a call's cost is set aside in the store before it
is sent, so calls racing on one key, in one process or in several sharing the store,
never spend past the budget together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from proctor.endpoint import CallLedger
from proctor.endpoint._budgets import LEASE_RENEW_S, Budgets, period_start
from proctor.endpoint._errors import ApiError
from proctor.endpoint._keys import ApiKey
from proctor.errors import StoreError
from proctor.store import GatewayCallRecord, PostgresStore, SpendHold, SQLiteStore, Store
from support.fake_openai import Completion, FakeOpenAIServer
from support.http_endpoint import Endpoint, one_model_config, running_endpoint

# gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
PER_CALL = (10 * 0.15 + 1000 * 0.60) / 1e6  # what the fake upstream reports for each call


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "upstream-secret")
    monkeypatch.setenv("TEAM_KEY", "sk-team")
    with FakeOpenAIServer() as server:
        # Slow enough that all 40 calls are in flight before the first one is answered.
        server.default = Completion(prompt_tokens=10, completion_tokens=1000, delay_s=0.3)
        yield server


def config(base_url: str, budget_usd: float) -> dict[str, Any]:
    key = {"name": "team", "key_env": "TEAM_KEY", "budget_usd": budget_usd}
    return one_model_config(base_url, keys=[key])


def another_connection(store: Store) -> Store:
    """The same database, opened as another process of the gateway would open it."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.url)


async def burst(endpoints: Sequence[Endpoint], calls: int, **options: Any) -> list[str]:
    """``calls`` chat calls at once, spread over ``endpoints``; each one's outcome."""

    clients = [endpoint.client("sk-team") for endpoint in endpoints]

    async def one(n: int) -> str:
        try:
            await clients[n % len(clients)].chat.completions.create(
                model="small", messages=[{"role": "user", "content": f"call {n}"}], **options
            )
        except openai.RateLimitError as exc:
            return str(exc.code)  # budget_exceeded, or a failure the test shows
        return "served"

    return await asyncio.gather(*(one(n) for n in range(calls)))


@pytest.fixture
async def two_gateways(
    store: Store, upstream: FakeOpenAIServer
) -> AsyncIterator[tuple[list[Endpoint], Store]]:
    """Two gateway processes' worth of endpoint, on two connections to one store."""
    async with AsyncExitStack() as stack:
        other = another_connection(store)
        stack.push_async_callback(other.close)
        raw = config(upstream.base_url, budget_usd=3.5 * PER_CALL)
        first = await stack.enter_async_context(running_endpoint(raw, store))
        second = await stack.enter_async_context(running_endpoint(raw, other))
        yield [first, second], store


async def test_forty_calls_at_once_on_a_budget_that_fits_three_serve_three(
    two_gateways: tuple[list[Endpoint], Store], upstream: FakeOpenAIServer
) -> None:
    endpoints, store = two_gateways
    # With max_tokens, each call holds its prompt and 1,000 tokens of output.
    outcomes = await burst(endpoints, 40, max_tokens=1000)
    assert outcomes.count("served") == 3
    assert outcomes.count("budget_exceeded") == 37
    assert len(upstream.bodies) == 3  # the refused ones never reached the upstream
    for endpoint in endpoints:
        await endpoint.stop()  # writes the ledger: the holds become spend
    spent = await store.gateway_spend("team", 0)
    assert spent == pytest.approx(3 * PER_CALL)
    assert spent <= 3.5 * PER_CALL
    another = SpendHold(hold_id="next", key_name="team", amount_usd=PER_CALL, expires_at=2e9)
    held, committed = await store.hold_gateway_spend(
        another, needed_usd=PER_CALL, since=0, limit_usd=3.5 * PER_CALL, now=1e9
    )
    assert held is None  # the half call left does not fit a fourth
    assert committed == pytest.approx(3 * PER_CALL)


async def test_calls_without_max_tokens_hold_the_rest_of_a_small_budget(
    two_gateways: tuple[list[Endpoint], Store], upstream: FakeOpenAIServer
) -> None:
    endpoints, store = two_gateways
    # A call without max_tokens may write thousands of tokens: on a budget this small
    # it holds all that is left, and runs alone. (Alone at a time: on a machine so busy
    # that the first call is answered before the last ones are sent, a later one may
    # then fit what is left.)
    served = (await burst(endpoints, 40)).count("served")
    assert 1 <= served <= 3
    assert len(upstream.bodies) == served
    for endpoint in endpoints:
        await endpoint.stop()
    assert await store.gateway_spend("team", 0) == pytest.approx(served * PER_CALL)


async def test_a_hold_lasts_until_its_row_is_written_and_a_failed_write_keeps_both(
    tmp_path: Path,
) -> None:
    class FlakyStore(SQLiteStore):
        broken = False

        async def record_gateway_calls(
            self,
            calls: Sequence[GatewayCallRecord],
            *,
            release: Sequence[tuple[str, float]] = (),
        ) -> None:
            if self.broken:
                raise StoreError("disk full")
            await super().record_gateway_calls(calls, release=release)

    store = FlakyStore(tmp_path / "proctor.db")
    now = 1_000_000.0
    since = period_start("day", now)

    async def hold(hold_id: str, amount: float) -> float | None:
        wanted = SpendHold(hold_id=hold_id, key_name="a", amount_usd=amount, expires_at=now + 60)
        held, _ = await store.hold_gateway_spend(
            wanted, needed_usd=amount, since=since, limit_usd=1.0, now=now
        )
        return held

    ledger = CallLedger(store, flush_after_s=60)
    ledger.start()
    try:
        assert await hold("h1", 0.5) == 0.5
        await ledger.record(
            GatewayCallRecord(ts=now, key_name="a", route="r", cost_usd=0.25), release=("h1", 0.5)
        )
        assert await hold("h2", 0.75) is None  # h1 still counts while its row is queued
        store.broken = True
        assert not await ledger.flush()
        assert ledger.pending == 1
        assert await hold("h2", 0.75) is None  # and after a failed write
        store.broken = False
        assert await ledger.flush()
        assert await hold("h2", 0.75) == 0.75  # spent 0.25, h1 released: 0.75 fits
    finally:
        await ledger.close()
        await store.close()


def test_periods_start_at_utc_midnight_and_the_first_of_the_month() -> None:
    moment = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert period_start("day", moment) == 1_699_920_000.0  # 2023-11-14T00:00Z
    assert period_start("month", moment) == 1_698_796_800.0  # 2023-11-01T00:00Z


async def test_a_process_leases_a_share_of_the_budget_and_gives_back_what_it_did_not_use(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "proctor.db")
    other = SQLiteStore(tmp_path / "proctor.db")  # a second gateway process
    clock = [1_000_000.0]
    key = ApiKey(name="team", scope="key:team", budget_usd=100.0)  # leases of $1 (1%)
    one, two = Budgets(store, clock=lambda: clock[0]), Budgets(other, clock=lambda: clock[0])

    async def committed() -> float:
        probe = SpendHold(hold_id="probe", key_name="team", amount_usd=1e9, expires_at=2e9)
        held, usd = await store.hold_gateway_spend(
            probe, needed_usd=1e9, since=0, limit_usd=100.0, now=clock[0]
        )
        assert held is None
        return usd

    try:
        parts = [await one.hold(key, needed_usd=0.25, wanted_usd=0.25) for _ in range(4)]
        assert len({part.id for part in parts}) == 1  # four calls, one store transaction
        assert await committed() == 1.0
        assert (await two.hold(key, needed_usd=0.25, wanted_usd=0.25)).id != parts[0].id
        fifth = await one.hold(key, needed_usd=0.25, wanted_usd=0.25)  # the lease is used up
        assert fifth.id != parts[0].id
        assert await committed() == 3.0  # three leases; no call row written yet
        clock[0] += LEASE_RENEW_S  # an old lease is renewed, its unused $0.75 given back
        renewed = await one.hold(key, needed_usd=0.25, wanted_usd=0.25)
        assert renewed.id != fifth.id
        assert await committed() == 3.25
        with pytest.raises(ApiError) as refused:  # a call that alone passes the budget
            await one.hold(key, needed_usd=200.0, wanted_usd=200.0)
        assert refused.value.code == "budget_exceeded"
    finally:
        await other.close()
        await store.close()


async def test_while_serving_the_ledger_writes_each_call_within_its_batch_interval(
    store: Store, upstream: FakeOpenAIServer
) -> None:
    upstream.default = Completion(prompt_tokens=10, completion_tokens=1000)
    async with running_endpoint(config(upstream.base_url, budget_usd=1.0), store) as running:
        client = running.client("sk-team")
        await client.chat.completions.create(
            model="small", messages=[{"role": "user", "content": "hi"}]
        )
        async with asyncio.timeout(5):
            while not await store.gateway_calls():  # written by the batch, not at shutdown
                await asyncio.sleep(0.005)
        assert await store.gateway_spend("team", 0) == pytest.approx(PER_CALL)


async def test_a_store_failing_at_renewal_refuses_and_keeps_the_old_lease(tmp_path: Path) -> None:
    class Flaky(SQLiteStore):
        broken = False

        async def hold_gateway_spend(self, hold: SpendHold, **kwargs: Any) -> Any:
            if self.broken:
                raise StoreError("database is locked")
            return await super().hold_gateway_spend(hold, **kwargs)

    store = Flaky(tmp_path / "proctor.db")
    clock = [1_000_000.0]
    key = ApiKey(name="team", scope="key:team", budget_usd=100.0)
    budgets = Budgets(store, clock=lambda: clock[0])
    try:
        first = await budgets.hold(key, needed_usd=0.25, wanted_usd=0.25)
        clock[0] += LEASE_RENEW_S
        store.broken = True
        with pytest.raises(ApiError) as refused:
            await budgets.hold(key, needed_usd=0.25, wanted_usd=0.25)
        assert (refused.value.status, refused.value.code) == (503, "budget_unavailable")
        store.broken = False
        await budgets.hold(key, needed_usd=0.25, wanted_usd=0.25)
        probe = SpendHold(hold_id="probe", key_name="team", amount_usd=1e9, expires_at=2e9)
        _, committed = await store.hold_gateway_spend(
            probe, needed_usd=1e9, since=0, limit_usd=100.0, now=clock[0]
        )
        # The first lease's unused $0.75 came back with the renewal that worked.
        assert committed == pytest.approx(0.25 + 1.0)
        assert first.amount_usd == 0.25
    finally:
        await store.close()
