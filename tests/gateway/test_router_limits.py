"""Router and rate limits: capacity taken before each attempt, settled after, refusals."""

from __future__ import annotations

import pytest

from proctor.gateway._errors import GatewayError
from proctor.gateway._tokens import estimate_tokens
from proctor.gateway._types import (
    CallSettings,
    RateLimits,
    UserMessage,
)
from proctor.store import ModelAttemptFailed, RateLimited
from support.router_fakes import (
    FakeClient,
    FakeLimiter,
    FakeTime,
    calls,
    deployment,
    make_router,
    ok,
)

HELLO = [UserMessage(content="hello")]


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


def attempts(events: tuple[object, ...]) -> list[tuple[str, int, str, str, str | None]]:
    return [
        (e.deployment, e.attempt, e.kind, e.action, e.next_deployment)
        for e in events
        if isinstance(e, ModelAttemptFailed)
    ]


async def test_rate_limits_are_taken_and_settled(time: FakeTime) -> None:
    limits = RateLimits(rpm=60, tpm=10_000)
    limiter = FakeLimiter(waited=0.25)
    a = deployment("a", FakeClient("a", ok("a", tokens=(30, 12))), limits=limits)
    unlimited = deployment("unlimited")
    router = make_router(time, limiter=limiter)
    messages = [UserMessage(content="x" * 400)]
    charge = estimate_tokens(messages, []) + 50  # the prompt's estimate plus max_tokens

    outcome = await router.call([a], messages, [], settings=CallSettings(max_tokens=50))
    await router.call([unlimited], messages, [])

    assert limiter.acquired == [("deployment:a", limits, charge, 2.0)]
    assert limiter.settled == [("deployment:a", 42 - charge)]  # actual usage - estimate
    assert outcome.events == (
        RateLimited(scope="deployment:a", limit="rpm/tpm", waited_ms=250.0, outcome="waited"),
    )


async def test_a_refused_rate_limit_falls_back(time: FakeTime) -> None:
    limiter = FakeLimiter(refuse={"deployment:a"})
    a = deployment("a", limits=RateLimits(rpm=1))
    b = deployment("b", limits=RateLimits(tpm=1000))
    router = make_router(time, limiter=limiter, allowed_failures=1)

    outcome = await router.call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert calls(a) == 0
    refused, attempt = outcome.events
    assert refused == RateLimited(
        scope="deployment:a", limit="rpm", waited_ms=0.0, outcome="refused"
    )
    assert attempts((attempt,)) == [("a", 1, "rate_limited", "fallback", "b")]
    assert router.cooling("a") == 0  # our own limit says nothing about a's health
    assert [scope for scope, *_ in limiter.acquired] == ["deployment:a", "deployment:b"]


async def test_a_refused_rate_limit_on_the_last_deployment_gives_up(time: FakeTime) -> None:
    limiter = FakeLimiter(refuse={"deployment:a"})
    a = deployment("a", limits=RateLimits(rpm=1))

    with pytest.raises(GatewayError) as caught:
        await make_router(time, limiter=limiter).call([a], HELLO, [])

    assert caught.value.kind == "rate_limited"
    assert "requests-per-minute" in str(caught.value)
    assert attempts(caught.value.events) == [("a", 1, "rate_limited", "give_up", None)]
