"""Router: retries, backoff, fallback, context-length escalation and rate limits.

Scripted clients stand in for providers; time is fake, so no test waits.
The circuit breaker has its own file (``test_router_cooldown.py``).
"""

from __future__ import annotations

import pytest

from proctor.errors import ConfigError, ModelError
from proctor.gateway._errors import ErrorKind, GatewayError, ModelCallError
from proctor.gateway._types import (
    CallSettings,
    UserMessage,
)
from proctor.store import ModelAttemptFailed
from support.router_fakes import (
    FakeClient,
    FakeTime,
    Hang,
    calls,
    deployment,
    make_router,
)

HELLO = [UserMessage(content="hello")]


def fail(kind: ErrorKind, *, status: int | None = None, after: float | None = None) -> Exception:
    return ModelCallError(f"{kind} happened", kind=kind, status=status, retry_after_s=after)


def attempts(events: tuple[object, ...]) -> list[tuple[str, int, str, str, str | None]]:
    """(deployment, attempt, kind, action, next) of each failed attempt, in order."""
    return [
        (e.deployment, e.attempt, e.kind, e.action, e.next_deployment)
        for e in events
        if isinstance(e, ModelAttemptFailed)
    ]


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


async def test_first_deployment_answers(time: FakeTime) -> None:
    a, b = deployment("a", timeout_s=9), deployment("b")
    router = make_router(time)

    outcome = await router.call([a, b], HELLO, [], settings=CallSettings(max_tokens=20))

    assert outcome.deployment is a
    assert outcome.response.text == "ok"
    assert outcome.events == ()
    assert (calls(a), calls(b)) == (1, 0)
    assert isinstance(a.client, FakeClient)
    # The deployment's timeout travels with the caller's settings.
    assert a.client.calls == [CallSettings(max_tokens=20, timeout_s=9)]


async def test_a_server_error_is_retried_after_a_backoff(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail("server_error", status=503)))

    outcome = await make_router(time).call([a], HELLO, [])

    assert outcome.deployment is a
    assert time.sleeps == [0.5]
    (event,) = outcome.events
    assert isinstance(event, ModelAttemptFailed)
    assert (event.attempt, event.kind, event.action, event.status) == (
        1,
        "server_error",
        "retry",
        503,
    )
    assert (event.backoff_s, event.next_deployment, event.model) == (0.5, "a", "a-model")
    assert event.error == "server_error happened"


@pytest.mark.parametrize(
    ("backoff_s", "max_backoff_s", "jitter", "expected"),
    [
        (0.5, 8.0, 1.0, [0.5, 1.0, 2.0, 4.0]),
        (0.5, 8.0, 0.5, [0.25, 0.5, 1.0, 2.0]),
        (1.0, 3.0, 1.0, [1.0, 2.0, 3.0, 3.0]),  # capped
    ],
)
async def test_backoff_doubles_with_full_jitter(
    time: FakeTime, backoff_s: float, max_backoff_s: float, jitter: float, expected: list[float]
) -> None:
    a = deployment("a", FakeClient("a", *[fail("timeout")] * 4))
    router = make_router(
        time,
        max_retries=4,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
        jitter=jitter,
        allowed_failures=10,
    )

    await router.call([a], HELLO, [])

    assert time.sleeps == expected
    assert calls(a) == 5


@pytest.mark.parametrize(("after", "slept"), [(3.0, 3.0), (0.1, 0.5), (32.0, 32.0)])
async def test_retry_after_is_honoured(time: FakeTime, after: float, slept: float) -> None:
    a = deployment("a", FakeClient("a", fail("rate_limited", status=429, after=after)))

    outcome = await make_router(time).call([a], HELLO, [])

    assert time.sleeps == [slept]  # max(Retry-After, backoff)
    (event,) = outcome.events
    assert isinstance(event, ModelAttemptFailed)
    assert (event.retry_after_s, event.backoff_s) == (after, slept)


async def test_a_long_retry_after_falls_back_at_once(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail("rate_limited", status=429, after=600)))
    b = deployment("b")

    outcome = await make_router(time).call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert time.sleeps == []
    assert attempts(outcome.events) == [("a", 1, "rate_limited", "fallback", "b")]


async def test_retries_run_out_then_the_next_deployment_answers(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", *[fail("server_error")] * 3))
    b = deployment("b")

    outcome = await make_router(time, allowed_failures=5).call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert time.sleeps == [0.5, 1.0]
    assert attempts(outcome.events) == [
        ("a", 1, "server_error", "retry", "a"),
        ("a", 2, "server_error", "retry", "a"),
        ("a", 3, "server_error", "fallback", "b"),
    ]


@pytest.mark.parametrize("kind", ["auth", "not_found", "invalid_response"])
async def test_errors_not_worth_a_retry_fall_back_at_once(time: FakeTime, kind: ErrorKind) -> None:
    a = deployment("a", FakeClient("a", fail(kind)))
    b = deployment("b")

    outcome = await make_router(time).call([a, b], HELLO, [])

    assert outcome.deployment is b
    assert (calls(a), time.sleeps) == (1, [])
    assert attempts(outcome.events) == [("a", 1, kind, "fallback", "b")]


@pytest.mark.parametrize("kind", ["bad_request", "budget"])
async def test_request_faults_give_up_without_fallback(time: FakeTime, kind: ErrorKind) -> None:
    a = deployment("a", FakeClient("a", fail(kind, status=400)))
    b = deployment("b")

    with pytest.raises(GatewayError) as caught:
        await make_router(time).call([a, b], HELLO, [])

    assert calls(b) == 0
    assert caught.value.kind == kind
    assert attempts(caught.value.events) == [("a", 1, kind, "give_up", None)]
    assert f"{kind} happened" in str(caught.value)
    assert "would refuse the same request" in str(caught.value)


@pytest.mark.parametrize("error", [RuntimeError("client bug"), ModelError("no kind")])
async def test_other_exceptions_are_invalid_responses(time: FakeTime, error: Exception) -> None:
    a = deployment("a", FakeClient("a", error))
    b = deployment("b")

    outcome = await make_router(time).call([a, b], HELLO, [])

    assert outcome.deployment is b
    (event,) = outcome.events
    assert isinstance(event, ModelAttemptFailed)
    assert (event.kind, event.action) == ("invalid_response", "fallback")
    assert str(error) in event.error
    assert type(error).__name__ in event.error


async def test_a_config_error_is_not_hidden_by_fallback(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", ConfigError("tool name 'x y' cannot be sent")))
    b = deployment("b")
    with pytest.raises(ConfigError, match="cannot be sent"):
        await make_router(time).call([a, b], HELLO, [])
    assert calls(b) == 0


async def test_the_router_enforces_the_timeout(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", Hang(), Hang()), timeout_s=30)
    b = deployment("b")
    router = make_router(time, max_retries=1)

    # The caller's timeout beats the deployment's.
    outcome = await router.call([a, b], HELLO, [], settings=CallSettings(timeout_s=0.01))

    assert outcome.deployment is b
    assert attempts(outcome.events) == [
        ("a", 1, "timeout", "retry", "a"),
        ("a", 2, "timeout", "fallback", "b"),
    ]
    event = outcome.events[-1]
    assert isinstance(event, ModelAttemptFailed)
    assert "within 0.01s" in event.error
    assert isinstance(a.client, FakeClient)
    assert a.client.calls[0] == CallSettings(timeout_s=0.01)


async def test_context_length_goes_to_a_larger_deployment(time: FakeTime) -> None:
    small = deployment("small", FakeClient("small", fail("context_length")), window=8_000)
    same = deployment("same", window=8_000)
    mid = deployment("mid", window=32_000)
    big = deployment("big", window=128_000)

    outcome = await make_router(time).call(
        [small, same, big], HELLO, [], larger=[small, same, mid, big]
    )

    assert outcome.deployment is mid  # the first larger one, though not in the chain
    assert attempts(outcome.events) == [("small", 1, "context_length", "fallback", "mid")]
    assert (calls(same), calls(big)) == (0, 0)


async def test_context_length_continues_along_the_chain_to_larger_ones(time: FakeTime) -> None:
    small = deployment("small", FakeClient("small", fail("context_length")), window=8_000)
    tiny = deployment("tiny", window=4_000)
    mid = deployment("mid", FakeClient("mid", fail("server_error")), window=32_000)
    unknown = deployment("unknown")
    router = make_router(time, max_retries=0)

    outcome = await router.call([small, tiny, mid, unknown], HELLO, [])

    assert outcome.deployment is unknown  # a window not known may still fit
    assert calls(tiny) == 0
    assert attempts(outcome.events) == [
        ("small", 1, "context_length", "fallback", "mid"),
        ("mid", 1, "server_error", "fallback", "unknown"),
    ]


async def test_context_length_skips_a_cooling_larger_deployment(time: FakeTime) -> None:
    router = make_router(time, allowed_failures=1, max_retries=0)
    mid = deployment("mid", FakeClient("mid", fail("server_error")), window=32_000)
    big = deployment("big", window=128_000)
    await router.call([mid, big], HELLO, [])  # mid now cools down
    small = deployment("small", FakeClient("small", fail("context_length")), window=8_000)

    outcome = await router.call([small], HELLO, [], larger=[mid, big])

    assert outcome.deployment is big
    assert calls(mid) == 1


async def test_context_length_of_an_unknown_window_bets_on_the_largest(time: FakeTime) -> None:
    unknown = deployment("unknown", FakeClient("unknown", fail("context_length")))
    mid, big = deployment("mid", window=32_000), deployment("big", window=128_000)

    outcome = await make_router(time).call([unknown, mid], HELLO, [], larger=[mid, big])

    assert outcome.deployment is big
    assert attempts(outcome.events) == [("unknown", 1, "context_length", "fallback", "big")]


async def test_context_length_with_nothing_larger_gives_up(time: FakeTime) -> None:
    small = deployment("small", FakeClient("small", fail("context_length")), window=8_000)
    other = deployment("other", window=8_000)

    with pytest.raises(GatewayError) as caught:
        await make_router(time).call([small, other], HELLO, [], larger=[other])

    assert caught.value.kind == "context_length"
    assert calls(other) == 0
    assert attempts(caught.value.events) == [("small", 1, "context_length", "give_up", None)]
    assert "larger context window" in str(caught.value)


async def test_total_failure_names_every_deployment(time: FakeTime) -> None:
    a = deployment("a", FakeClient("a", fail("auth", status=401)))
    b = deployment("b", FakeClient("b", fail("connection"), fail("connection")))
    router = make_router(time, max_retries=1)

    with pytest.raises(GatewayError) as caught:
        await router.call([a, b], HELLO, [])

    message = str(caught.value)
    assert "a (auth), b (connection)" in message
    assert "connection happened" in message
    assert "check base_url / keys, or add a fallback model" in message
    assert caught.value.kind == "connection"
    assert [e[3] for e in attempts(caught.value.events)] == ["fallback", "retry", "give_up"]


async def test_an_empty_chain_is_refused(time: FakeTime) -> None:
    with pytest.raises(GatewayError, match="no deployments"):
        await make_router(time).call([], HELLO, [])
