"""Rate limits: token buckets in process, and in Redis shared by several processes."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proctor.errors import UsageError
from proctor.gateway import (
    MemoryRateLimiter,
    RateLimitConfig,
    RateLimitExceeded,
    RateLimits,
    RedisRateLimiter,
    open_limiter,
)
from support.redis_server import CLOSED_URL, RedisTarget, redis_target


class FakeTime:
    """A clock that only moves when a caller sleeps on it (or a test moves it)."""

    def __init__(self, *, advance_on_sleep: bool = True) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.advance_on_sleep = advance_on_sleep

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.advance_on_sleep:
            self.now += seconds


async def forever(seconds: float) -> None:
    await asyncio.Event().wait()


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def memory(fake: FakeTime) -> MemoryRateLimiter:
    return MemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)


@pytest.fixture
async def redis() -> AsyncIterator[RedisTarget]:
    async with redis_target() as target:
        yield target


@pytest.fixture
async def redis_pair(redis: RedisTarget) -> AsyncIterator[tuple[RedisRateLimiter, ...]]:
    """Two limiters on one server, as two processes would hold them."""
    # A generous timeout: on a loaded machine a slow reply must not read as an outage.
    pair = tuple(RedisRateLimiter(redis.url, prefix=redis.prefix, timeout_s=5) for _ in range(2))
    try:
        yield pair
    finally:
        for limiter in pair:
            await limiter.aclose()


async def level(redis: RedisTarget, scope: str, bucket: str) -> float:
    """A bucket's level as the Lua script stored it."""
    raw = await redis.client.hget(f"{redis.prefix}{scope}", bucket)
    assert raw is not None
    return float(raw)


def outcomes(results: list[float | BaseException]) -> list[float | str]:
    return [r if isinstance(r, float) else type(r).__name__ for r in results]


# In process -------------------------------------------------------------------------------


async def test_requests_per_minute_wait_for_the_bucket_to_refill(
    memory: MemoryRateLimiter, fake: FakeTime
) -> None:
    limits = RateLimits(rpm=2)
    waits = [await memory.acquire("d", limits, tokens=1, max_wait_s=60) for _ in range(4)]

    assert waits == [0.0, 0.0, 30.0, 30.0]
    assert fake.slept == [30.0, 30.0]
    seen = memory.levels("d", limits)
    assert seen is not None
    assert (seen.requests, seen.tokens, seen.requests_full_in_s) == (0.0, None, 60.0)
    assert memory.levels("never-seen", limits) is None


async def test_tokens_per_minute_wait_for_enough_tokens(
    memory: MemoryRateLimiter, fake: FakeTime
) -> None:
    limits = RateLimits(tpm=600)  # 10 tokens a second
    assert await memory.acquire("d", limits, tokens=500, max_wait_s=60) == 0.0
    assert await memory.acquire("d", limits, tokens=200, max_wait_s=60) == pytest.approx(10.0)


async def test_scopes_have_buckets_of_their_own(memory: MemoryRateLimiter) -> None:
    limits = RateLimits(rpm=1)
    await memory.acquire("deployment-a", limits, tokens=1, max_wait_s=0)
    assert await memory.acquire("deployment-b", limits, tokens=1, max_wait_s=0) == 0.0


async def test_a_wait_beyond_the_bound_is_refused_and_takes_nothing(
    memory: MemoryRateLimiter, fake: FakeTime
) -> None:
    limits = RateLimits(rpm=1, tpm=1000)
    await memory.acquire("key:alice", limits, tokens=10, max_wait_s=0)

    with pytest.raises(RateLimitExceeded, match="1 requests per minute") as raised:
        await memory.acquire("key:alice", limits, tokens=10, max_wait_s=5)
    error = raised.value
    assert (error.scope, error.limit, error.kind) == ("key:alice", "rpm", "rate_limited")
    assert error.retry_in_s == pytest.approx(60.0)
    assert error.retry_after_s == error.retry_in_s

    fake.now += 60  # exactly what it said: the refused call took nothing
    assert await memory.acquire("key:alice", limits, tokens=10, max_wait_s=0) == 0.0

    with pytest.raises(RateLimitExceeded) as raised:  # 990 left, 5 missing at 1000/60 a second
        await memory.acquire("key:alice", RateLimits(tpm=1000), tokens=995, max_wait_s=0)
    assert raised.value.limit == "tpm"
    assert raised.value.retry_in_s == pytest.approx(0.3)


async def test_a_request_bigger_than_the_bucket_runs_when_full_and_leaves_a_debt(
    memory: MemoryRateLimiter,
) -> None:
    limits = RateLimits(tpm=100)
    await memory.acquire("d", limits, tokens=30, max_wait_s=0)

    assert await memory.acquire("d", limits, tokens=250, max_wait_s=60) == pytest.approx(18.0)
    with pytest.raises(RateLimitExceeded) as raised:  # 150 in debt, then 10 more
        await memory.acquire("d", limits, tokens=10, max_wait_s=60)
    assert raised.value.retry_in_s == pytest.approx(96.0)


async def test_settle_charges_the_real_usage_and_refunds_no_more_than_full(
    memory: MemoryRateLimiter,
) -> None:
    limits = RateLimits(tpm=600)
    await memory.acquire("d", limits, tokens=600, max_wait_s=0)
    await memory.settle("d", limits, tokens_delta=300)  # used 900, estimated 600

    with pytest.raises(RateLimitExceeded) as raised:
        await memory.acquire("d", limits, tokens=60, max_wait_s=0)
    assert raised.value.retry_in_s == pytest.approx(36.0)

    await memory.settle("d", limits, tokens_delta=-10_000)
    assert await memory.acquire("d", limits, tokens=600, max_wait_s=0) == 0.0
    with pytest.raises(RateLimitExceeded):
        await memory.acquire("d", limits, tokens=1, max_wait_s=0)


async def test_no_limits_never_wait(memory: MemoryRateLimiter) -> None:
    for _ in range(100):
        assert await memory.acquire("d", RateLimits(), tokens=10**9, max_wait_s=0) == 0.0
    await memory.settle("d", RateLimits(), tokens_delta=10**9)


async def test_a_limit_added_later_starts_full(memory: MemoryRateLimiter) -> None:
    for _ in range(3):
        await memory.acquire("d", RateLimits(tpm=1000), tokens=1, max_wait_s=0)

    assert await memory.acquire("d", RateLimits(rpm=1, tpm=1000), tokens=1, max_wait_s=0) == 0.0


async def test_limits_must_be_positive(memory: MemoryRateLimiter) -> None:
    with pytest.raises(UsageError, match="rpm=0 must be positive"):
        await memory.acquire("d", RateLimits(rpm=0), tokens=1, max_wait_s=0)


async def test_concurrent_acquires_never_share_the_last_request() -> None:
    limiter = MemoryRateLimiter()
    limits = RateLimits(rpm=5)
    results = await asyncio.gather(
        *(limiter.acquire("d", limits, tokens=1, max_wait_s=0) for _ in range(20)),
        return_exceptions=True,
    )
    assert sorted(outcomes(results), key=str) == [0.0] * 5 + ["RateLimitExceeded"] * 15


async def test_concurrent_waiters_queue_in_turn_within_their_bound() -> None:
    fake = FakeTime(advance_on_sleep=False)
    limiter = MemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)
    limits = RateLimits(rpm=2)
    results = await asyncio.gather(
        *(limiter.acquire("d", limits, tokens=1, max_wait_s=45) for _ in range(4)),
        return_exceptions=True,
    )
    assert outcomes(results) == [0.0, 0.0, 30.0, "RateLimitExceeded"]


async def test_waiters_really_sleep_on_a_real_event_loop() -> None:
    limiter = MemoryRateLimiter(clock=lambda: 0.0)  # a still clock: exact waits, real sleeps
    limits = RateLimits(tpm=6000)  # 100 tokens a second
    await limiter.acquire("d", limits, tokens=6000, max_wait_s=0)
    started = time.monotonic()
    waits = await asyncio.gather(
        *(limiter.acquire("d", limits, tokens=5, max_wait_s=1) for _ in range(6))
    )

    assert waits == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    assert time.monotonic() - started >= 0.3


async def test_a_cancelled_waiter_gives_its_reservation_back() -> None:
    fake = FakeTime()
    limiter = MemoryRateLimiter(clock=fake.clock, sleep=forever)
    limits = RateLimits(rpm=1)
    await limiter.acquire("d", limits, tokens=1, max_wait_s=0)
    waiter = asyncio.create_task(limiter.acquire("d", limits, tokens=1, max_wait_s=120))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    with pytest.raises(RateLimitExceeded) as raised:
        await limiter.acquire("d", limits, tokens=1, max_wait_s=0)
    assert raised.value.retry_in_s == pytest.approx(60.0)  # not 120: nobody is queued


# Redis (the real server) ------------------------------------------------------------------


async def test_two_redis_limiters_share_one_limit(
    redis_pair: tuple[RedisRateLimiter, ...],
) -> None:
    first, second = redis_pair
    limits = RateLimits(rpm=3)
    for limiter in (first, second, first):
        assert await limiter.acquire("d", limits, tokens=1, max_wait_s=0) == 0.0

    with pytest.raises(RateLimitExceeded, match="3 requests per minute") as raised:
        await second.acquire("d", limits, tokens=1, max_wait_s=5)
    assert (raised.value.scope, raised.value.limit) == ("d", "rpm")
    assert 18.0 < raised.value.retry_in_s <= 20.0
    seen = first.levels("d", limits)  # as its last acquire left the shared buckets
    assert seen is not None
    assert seen.requests is not None
    assert 0 <= seen.requests < 1
    assert seen.tokens is None  # no tpm: unlimited
    assert 39.0 < seen.requests_full_in_s <= 60.0


async def test_a_redis_waiter_sleeps_for_its_turn(
    redis_pair: tuple[RedisRateLimiter, ...],
) -> None:
    first, second = redis_pair
    limits = RateLimits(tpm=6000)  # 100 tokens a second
    await first.acquire("d", limits, tokens=6000, max_wait_s=0)
    started = time.monotonic()
    waited = await second.acquire("d", limits, tokens=10, max_wait_s=1)

    assert 0 < waited <= 0.1
    assert time.monotonic() - started >= waited
    with pytest.raises(RateLimitExceeded) as raised:
        await first.acquire("d", limits, tokens=6000, max_wait_s=1)
    assert raised.value.limit == "tpm"
    assert 55.0 < raised.value.retry_in_s <= 60.0


async def test_redis_settle_charges_and_refunds(redis_pair: tuple[RedisRateLimiter, ...]) -> None:
    first, second = redis_pair
    limits = RateLimits(rpm=100, tpm=600)
    await first.acquire("d", limits, tokens=600, max_wait_s=0)
    await second.settle("d", limits, tokens_delta=300)

    with pytest.raises(RateLimitExceeded) as raised:
        await first.acquire("d", limits, tokens=60, max_wait_s=0)
    assert 34.0 < raised.value.retry_in_s <= 36.0

    await first.settle("d", limits, tokens_delta=-10_000)
    assert await second.acquire("d", limits, tokens=600, max_wait_s=0) == 0.0


async def test_a_redis_limit_added_later_starts_full(
    redis_pair: tuple[RedisRateLimiter, ...],
) -> None:
    limiter = redis_pair[0]
    for _ in range(3):
        await limiter.acquire("d", RateLimits(tpm=1000), tokens=1, max_wait_s=0)

    assert await limiter.acquire("d", RateLimits(rpm=1, tpm=1000), tokens=1, max_wait_s=0) == 0.0


async def test_redis_buckets_expire_once_they_would_be_full(
    redis: RedisTarget, redis_pair: tuple[RedisRateLimiter, ...]
) -> None:
    await redis_pair[0].acquire("d", RateLimits(rpm=60, tpm=6000), tokens=600, max_wait_s=0)

    # One request back at 1/s, 600 tokens back at 100/s: full again in 6 s.
    assert 5_000 < await redis.client.pttl(f"{redis.prefix}d") <= 6_001


async def test_a_flushed_script_cache_is_reloaded(
    redis: RedisTarget, redis_pair: tuple[RedisRateLimiter, ...]
) -> None:
    limiter = redis_pair[0]
    limits = RateLimits(rpm=10)
    await limiter.acquire("d", limits, tokens=1, max_wait_s=0)
    await redis.client.script_flush()

    assert await limiter.acquire("d", limits, tokens=1, max_wait_s=0) == 0.0
    assert limiter.last_error is None
    assert 8 <= await level(redis, "d", "r") < 9  # both acquires took one request


async def test_an_acquire_cancelled_before_its_answer_arrives_gives_back_what_it_took(
    redis: RedisTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RedisRateLimiter(redis.url, prefix=redis.prefix, timeout_s=5)
    try:
        limits = RateLimits(rpm=1)
        ran = asyncio.Event()
        answer = asyncio.Event()
        evalsha = limiter._redis.evalsha

        async def slow_answer(*args: Any) -> Any:
            result = await evalsha(*args)  # the script has run: the request is taken
            ran.set()
            await answer.wait()
            return result

        monkeypatch.setattr(limiter._redis, "evalsha", slow_answer)
        caller = asyncio.create_task(limiter.acquire("d", limits, tokens=1, max_wait_s=0))
        await ran.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert await level(redis, "d", "r") < 1  # taken, its caller gone
        answer.set()
        for _ in range(500):  # the give-back runs once the answer arrives
            left = await redis.client.hget(f"{redis.prefix}d", "r")
            if left is None or float(left) >= 0.99:  # full again (a full bucket expires)
                break
            await asyncio.sleep(0.01)
        monkeypatch.undo()
        assert await limiter.acquire("d", limits, tokens=1, max_wait_s=0) == 0.0
    finally:
        await limiter.aclose()


async def test_a_cancelled_redis_waiter_gives_its_reservation_back(redis: RedisTarget) -> None:
    limiter = RedisRateLimiter(redis.url, prefix=redis.prefix, timeout_s=5, sleep=forever)
    try:
        limits = RateLimits(rpm=1)
        await limiter.acquire("d", limits, tokens=1, max_wait_s=0)
        waiter = asyncio.create_task(limiter.acquire("d", limits, tokens=1, max_wait_s=120))
        while await level(redis, "d", "r") >= 0:
            await asyncio.sleep(0.001)  # until the waiter has reserved (and gone to sleep)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

        with pytest.raises(RateLimitExceeded) as raised:
            await limiter.acquire("d", limits, tokens=1, max_wait_s=0)
        assert 55.0 < raised.value.retry_in_s <= 60.0  # not 120: nobody is queued
    finally:
        await limiter.aclose()


async def test_an_unreachable_redis_lets_calls_through(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter(CLOSED_URL)
    try:
        with caplog.at_level(logging.WARNING, logger="proctor.gateway.ratelimit"):
            for _ in range(3):
                assert await limiter.acquire("d", RateLimits(rpm=1), tokens=1, max_wait_s=0) == 0
        assert limiter.last_error is not None
        logged = [r for r in caplog.records if r.name == "proctor.gateway.ratelimit"]
        assert len(logged) == 1
        assert "calls are not limited" in logged[0].getMessage()
    finally:
        await limiter.aclose()


_WORKER = """
import asyncio, sys
from proctor.gateway._errors import RateLimitExceeded
from proctor.gateway._ratelimit import RedisRateLimiter
from proctor.gateway._types import RateLimits

async def main() -> None:
    limiter = RedisRateLimiter(sys.argv[1], prefix=sys.argv[2], timeout_s=5)
    taken = 0
    for _ in range(10):
        try:
            await limiter.acquire("shared", RateLimits(rpm=10), tokens=1, max_wait_s=0)
            taken += 1
        except RateLimitExceeded:
            pass
    await limiter.aclose()
    print(taken)

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main())
"""


@pytest.mark.slow
async def test_two_processes_share_one_redis_limit(redis: RedisTarget) -> None:
    # Both are told to go once both have started; the bucket gives one request back every
    # 6 s, far longer than the 20 acquires take.
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER, redis.url, redis.prefix, stdin=PIPE, stdout=PIPE
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), timeout=60) == b"ready\n"
    outputs = await asyncio.gather(*(w.communicate(b"go\n") for w in workers))

    assert [w.returncode for w in workers] == [0, 0]
    assert sum(int(stdout) for stdout, _ in outputs) == 10


# open_limiter -----------------------------------------------------------------------------


async def test_open_limiter_builds_the_configured_backend() -> None:
    assert isinstance(open_limiter(RateLimitConfig()), MemoryRateLimiter)
    shared = open_limiter(RateLimitConfig(backend="redis", redis_url=CLOSED_URL))
    assert isinstance(shared, RedisRateLimiter)
    await shared.aclose()
