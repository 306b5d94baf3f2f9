"""Router cooldown: a deployment that keeps failing is skipped, then tried once again."""

from __future__ import annotations

import asyncio

import pytest

from proctor.gateway._errors import ErrorKind, GatewayError, ModelCallError
from proctor.gateway._types import UserMessage
from proctor.store import ModelAttemptFailed
from support.router_fakes import FakeClient, FakeTime, Gate, calls, deployment, make_router, ok

HELLO = [UserMessage(content="hello")]


def fail(kind: ErrorKind = "server_error") -> ModelCallError:
    return ModelCallError(f"{kind} happened", kind=kind)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


async def test_failures_in_a_row_open_the_circuit(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail(), fail()))
    b = deployment("b")
    router = make_router(time, max_retries=0, allowed_failures=2, cooldown_s=30)

    await router.call([a, b], HELLO, [])
    assert router.cooling("a") == 0  # one failure is allowed
    await router.call([a, b], HELLO, [])
    assert router.cooling("a") == 30

    outcome = await router.call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert calls(a) == 2  # the third call did not reach it
    (skipped,) = outcome.events
    assert isinstance(skipped, ModelAttemptFailed)
    assert (skipped.kind, skipped.action, skipped.attempt) == ("cooldown", "skipped", 0)
    assert skipped.next_deployment == "b"
    assert "30.0s of cooldown left" in skipped.error
    time.advance(12)
    assert router.cooling("a") == 18


async def test_a_success_resets_the_count(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail(), ok("a"), fail()))
    b = deployment("b")
    router = make_router(time, max_retries=1, allowed_failures=2)

    await router.call([a, b], HELLO, [])  # fail, retry: ok
    await router.call([a, b], HELLO, [])  # fail: the second failure, but not in a row

    assert router.cooling("a") == 0
    assert router.breaker.failures("a") == 0


async def test_retries_stop_once_the_circuit_opens(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail(), fail()))
    b = deployment("b")
    router = make_router(time, max_retries=5, allowed_failures=2)

    outcome = await router.call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert calls(a) == 2
    assert [e.action for e in outcome.events if isinstance(e, ModelAttemptFailed)] == [
        "retry",
        "fallback",
    ]


@pytest.mark.parametrize("kind", ["auth", "not_found"])
async def test_a_misconfigured_deployment_cools_down_at_once(
    time: FakeTime, kind: ErrorKind
) -> None:
    a = deployment("a", FakeClient("a", fail(kind)))
    router = make_router(time, allowed_failures=5, cooldown_s=60)

    await router.call([a, deployment("b")], HELLO, [])

    assert router.cooling("a") == 60


@pytest.mark.parametrize("kind", ["bad_request", "context_length"])
async def test_request_faults_do_not_count(time: FakeTime, kind: ErrorKind) -> None:
    a = deployment("a", FakeClient("a", fail(kind), fail(kind)))
    router = make_router(time, allowed_failures=1)

    for _ in range(2):
        with pytest.raises(GatewayError):
            await router.call([a], HELLO, [])

    assert router.cooling("a") == 0
    assert calls(a) == 2


async def test_after_the_cooldown_one_trial_call_closes_the_circuit(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail()))
    b = deployment("b")
    router = make_router(time, max_retries=0, allowed_failures=1, cooldown_s=30)
    await router.call([a, b], HELLO, [])
    time.advance(29.5)
    assert (await router.call([a, b], HELLO, [])).deployment is b  # still cooling

    time.advance(0.5)
    trial = await router.call([a, b], HELLO, [])

    assert trial.deployment is a
    assert trial.events == ()
    assert calls(a) == 2
    assert (await router.call([a, b], HELLO, [])).deployment is a  # closed again


async def test_a_failed_trial_reopens_without_retries(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", *[fail()] * 4))
    b = deployment("b")
    router = make_router(time, max_retries=2, allowed_failures=3, cooldown_s=30)
    await router.call([a, b], HELLO, [])  # three failures: open
    time.advance(30)

    outcome = await router.call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert calls(a) == 4  # one trial, not a retry
    assert router.cooling("a") == 30  # a whole new cooldown
    first = outcome.events[0]
    assert isinstance(first, ModelAttemptFailed)
    assert (first.deployment, first.attempt, first.action) == ("a", 1, "fallback")


async def test_a_failed_trial_reopens_even_below_the_allowed_failures(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail("auth"), fail("server_error")))
    b = deployment("b")
    router = make_router(time, max_retries=2, allowed_failures=5, cooldown_s=30)
    await router.call([a, b], HELLO, [])  # a bad key: open at once, after one failure
    time.advance(30)

    await router.call([a, b], HELLO, [])  # the trial fails: two failures of five allowed

    assert calls(a) == 2
    assert router.cooling("a") == 30


async def test_only_one_trial_at_a_time(time: FakeTime) -> None:
    gate = Gate()
    a = deployment("a", FakeClient("a", fail(), gate))
    b = deployment("b")
    router = make_router(time, max_retries=0, allowed_failures=1)
    await router.call([a, b], HELLO, [])
    time.advance(30)

    trial = asyncio.create_task(router.call([a, b], HELLO, []))
    await gate.entered.wait()
    meanwhile = await router.call([a, b], HELLO, [])
    gate.opened.set()

    assert meanwhile.deployment is b
    (skipped,) = meanwhile.events
    assert isinstance(skipped, ModelAttemptFailed)
    assert "trial call is in flight" in skipped.error
    assert (await trial).deployment is a
    assert (await router.call([a, b], HELLO, [])).deployment is a


async def test_a_single_deployment_route_fails_fast_while_cooling(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail(), fail(), fail()))
    router = make_router(time, max_retries=2, allowed_failures=3, cooldown_s=30)
    with pytest.raises(GatewayError) as first:
        await router.call([a], HELLO, [])
    assert first.value.kind == "server_error"
    time.advance(10)

    with pytest.raises(GatewayError) as caught:
        await router.call([a], HELLO, [])

    assert calls(a) == 3
    assert caught.value.kind is None
    assert "cooling down" in str(caught.value)
    assert "a (tried again in 20.0s)" in str(caught.value)
    (skipped,) = caught.value.events
    assert isinstance(skipped, ModelAttemptFailed)
    assert (skipped.action, skipped.next_deployment) == ("skipped", None)


async def test_state_is_per_router(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail()))
    first = make_router(time, max_retries=0, allowed_failures=1)
    with pytest.raises(GatewayError):
        await first.call([a], HELLO, [])

    other = make_router(time)

    assert first.cooling("a") == 30
    assert other.cooling("a") == 0
    assert (await other.call([a], HELLO, [])).deployment is a
