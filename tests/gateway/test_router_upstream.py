"""Router end to end: real OpenAIModel clients against fake upstream servers.

Each server is one deployment; what a server recorded shows what the router sent.
Sleeps and the clock are fake, so only the timeout test waits (for real timeouts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proctor.gateway import OpenAIModel, UserMessage
from proctor.gateway._deployment import Deployment
from proctor.gateway._errors import GatewayError
from proctor.gateway._route_stream import RouteStream
from proctor.gateway._stream import StreamInterrupted
from proctor.gateway._types import RateLimits
from proctor.store import ModelAttemptFailed, RateLimited, Usage
from support.fake_openai import (
    Completion,
    ErrorReply,
    FakeOpenAIServer,
    FakeToolCall,
    RawReply,
    Reply,
    TruncatedStream,
    context_length_error,
)
from support.router_fakes import FakeLimiter, FakeTime, make_router

HELLO = [UserMessage(content="hello")]


class Upstream:
    """A fake server and the deployment that points at it."""

    def __init__(self, name: str, *, window: int | None = None, timeout_s: float = 10) -> None:
        self.server = FakeOpenAIServer()
        self.server.start()
        self.model = OpenAIModel(f"{name}-model", base_url=self.server.base_url, api_key="k")
        self.deployment = Deployment(
            name=name,
            client=self.model,
            model=self.model.model,
            context_window=window,
            timeout_s=timeout_s,
            limits=RateLimits(rpm=100),
        )

    @property
    def hits(self) -> int:
        return len(self.server.bodies)

    async def close(self) -> None:
        await self.model.aclose()
        self.server.close()


@pytest.fixture
async def up() -> AsyncIterator[dict[str, Upstream]]:
    upstreams = {
        "a": Upstream("a", window=8_000),
        "b": Upstream("b", window=8_000),
        "tiny": Upstream("tiny", window=4_000),
        "big": Upstream("big", window=128_000),
    }
    try:
        yield upstreams
    finally:
        for upstream in upstreams.values():
            await upstream.close()


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


def actions(events: tuple[object, ...]) -> list[tuple[str, str, str]]:
    return [(e.deployment, e.kind, e.action) for e in events if isinstance(e, ModelAttemptFailed)]


async def test_a_server_error_is_retried(up: dict[str, Upstream], time: FakeTime) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(ErrorReply(status=500, message="boom"), Completion(text="second try"))

    outcome = await make_router(time).call([a.deployment, b.deployment], HELLO, [])

    assert outcome.response.text == "second try"
    assert outcome.deployment is a.deployment
    assert (a.hits, b.hits) == (2, 0)
    (event,) = outcome.events
    assert isinstance(event, ModelAttemptFailed)
    assert (event.kind, event.status, event.action) == ("server_error", 500, "retry")
    assert "boom" in event.error


@pytest.mark.parametrize(
    "reply",
    [
        ErrorReply(status=429, retry_after=3),
        ErrorReply(status=429, retry_after_ms=3000, retry_after=9),
    ],
)
async def test_retry_after_is_waited(
    up: dict[str, Upstream], time: FakeTime, reply: ErrorReply
) -> None:
    a = up["a"]
    a.server.enqueue(reply)

    outcome = await make_router(time).call([a.deployment], HELLO, [])

    assert outcome.deployment is a.deployment
    assert time.sleeps == [3.0]
    assert actions(outcome.events) == [("a", "rate_limited", "retry")]


async def test_persistent_server_errors_fall_back(up: dict[str, Upstream], time: FakeTime) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(*[ErrorReply(status=503)] * 3)

    outcome = await make_router(time, allowed_failures=5).call(
        [a.deployment, b.deployment], HELLO, []
    )

    assert outcome.deployment is b.deployment
    assert (a.hits, b.hits) == (3, 1)
    assert [action for *_, action in actions(outcome.events)] == ["retry", "retry", "fallback"]


async def test_context_length_goes_to_the_larger_model(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a, tiny, big = up["a"], up["tiny"], up["big"]
    a.server.enqueue(context_length_error(window=8_000, requested=9_000))

    outcome = await make_router(time).call(
        [a.deployment, tiny.deployment, big.deployment], HELLO, []
    )

    assert outcome.deployment is big.deployment
    assert (a.hits, tiny.hits, big.hits) == (1, 0, 1)
    (event,) = outcome.events
    assert isinstance(event, ModelAttemptFailed)
    assert (event.kind, event.status, event.next_deployment) == ("context_length", 400, "big")


async def test_timeouts_are_retried_then_fall_back(up: dict[str, Upstream], time: FakeTime) -> None:
    slow = Upstream("slow", timeout_s=0.3)
    b = up["b"]
    try:
        # The first use imports the SDK, which alone can take longer than the timeout.
        await slow.model.complete(HELLO, [])
        slow.server.enqueue(Completion(delay_s=5), Completion(delay_s=5))
        outcome = await make_router(time, max_retries=1).call(
            [slow.deployment, b.deployment], HELLO, []
        )
    finally:
        await slow.close()

    # (How many requests reached the slow server depends on load: not asserted.)
    assert outcome.deployment is b.deployment
    assert actions(outcome.events) == [
        ("slow", "timeout", "retry"),
        ("slow", "timeout", "fallback"),
    ]
    assert time.sleeps == [0.5]


async def test_a_bad_key_falls_back_at_once(up: dict[str, Upstream], time: FakeTime) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(ErrorReply(status=401, message="bad key"))
    router = make_router(time, cooldown_s=45)

    outcome = await router.call([a.deployment, b.deployment], HELLO, [])

    assert outcome.deployment is b.deployment
    assert (a.hits, time.sleeps) == (1, [])
    assert actions(outcome.events) == [("a", "auth", "fallback")]
    assert router.cooling("a") == 45


async def test_an_open_circuit_is_not_contacted_until_the_cooldown_ends(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(ErrorReply(status=500), ErrorReply(status=500))
    router = make_router(time, max_retries=1, allowed_failures=2, cooldown_s=30)
    chain = [a.deployment, b.deployment]
    await router.call(chain, HELLO, [])

    skipped = await router.call(chain, HELLO, [])

    assert skipped.deployment is b.deployment
    assert a.hits == 2  # the second call never reached it
    assert actions(skipped.events) == [("a", "cooldown", "skipped")]
    time.advance(30)
    trial = await router.call(chain, HELLO, [])
    assert trial.deployment is a.deployment
    assert a.hits == 3


async def test_a_single_deployment_route_fails_fast_while_cooling(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a = up["a"]
    a.server.enqueue(*[ErrorReply(status=502)] * 3)
    router = make_router(time, max_retries=2, allowed_failures=3)
    with pytest.raises(GatewayError):
        await router.call([a.deployment], HELLO, [])

    with pytest.raises(GatewayError, match="cooling down") as caught:
        await router.call([a.deployment], HELLO, [])

    assert a.hits == 3
    assert caught.value.kind is None


async def test_a_bad_request_is_not_sent_elsewhere(up: dict[str, Upstream], time: FakeTime) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(ErrorReply(status=400, message="messages[0].role is invalid"))

    with pytest.raises(GatewayError, match=r"role is invalid") as caught:
        await make_router(time).call([a.deployment, b.deployment], HELLO, [])

    assert (a.hits, b.hits) == (1, 0)
    assert caught.value.kind == "bad_request"
    assert actions(caught.value.events) == [("a", "bad_request", "give_up")]


@pytest.mark.parametrize(
    "reply",
    [
        RawReply(body=b"{not json"),
        RawReply(body=b"<html>proxy error</html>", content_type="text/html"),
        Completion(empty_choices=True),
        RawReply(body=b'{"choices": [{"message": null}]}'),
    ],
)
async def test_a_malformed_answer_falls_back(
    up: dict[str, Upstream], time: FakeTime, reply: Reply
) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(reply)

    outcome = await make_router(time).call([a.deployment, b.deployment], HELLO, [])

    assert outcome.deployment is b.deployment
    assert a.hits == 1  # not retried: the same server would likely answer the same
    assert actions(outcome.events) == [("a", "invalid_response", "fallback")]


async def test_a_cut_answer_is_retried(up: dict[str, Upstream], time: FakeTime) -> None:
    a = up["a"]
    a.server.enqueue(TruncatedStream(text="cut"), Completion(text="whole"))

    outcome = await make_router(time).call([a.deployment], HELLO, [])

    assert outcome.response.text == "whole"
    assert actions(outcome.events) == [("a", "connection", "retry")]


async def test_non_json_tool_arguments_reach_the_caller(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(Completion(tool_calls=[FakeToolCall(name="lookup", arguments="{oops")]))

    outcome = await make_router(time).call([a.deployment, b.deployment], HELLO, [])

    # A malformed call is the model's answer: the run's escalation rule handles it.
    assert outcome.deployment is a.deployment
    (call,) = outcome.response.tool_calls
    assert (call.arguments, call.raw_arguments) == ({}, "{oops")
    assert outcome.events == ()


async def test_a_refused_rate_limit_sends_to_the_next(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a, b = up["a"], up["b"]
    limiter = FakeLimiter(refuse={"deployment:a"})

    outcome = await make_router(time, limiter=limiter).call([a.deployment, b.deployment], HELLO, [])

    assert outcome.deployment is b.deployment
    assert (a.hits, b.hits) == (0, 1)
    assert isinstance(outcome.events[0], RateLimited)
    assert outcome.events[0].outcome == "refused"
    assert actions(outcome.events) == [("a", "rate_limited", "fallback")]
    assert limiter.settled == [("deployment:b", 15 - limiter.acquired[-1][2])]


async def test_a_stream_falls_back_before_its_first_chunk(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(*[ErrorReply(status=503, message="busy")] * 3)
    b.server.enqueue(Completion(text="streamed by b", prompt_tokens=8, completion_tokens=3))

    opened = await make_router(time).stream([a.deployment, b.deployment], HELLO, [])

    assert isinstance(opened, RouteStream)
    deltas = [delta async for delta in opened]
    assert [d.text for d in deltas if d.text] == ["streamed ", "by ", "b"]
    assert opened.outcome is not None
    assert opened.outcome.deployment is b.deployment
    assert opened.outcome.response.usage == Usage(input_tokens=8, output_tokens=3)
    assert actions(opened.outcome.events) == [
        ("a", "server_error", "retry"),
        ("a", "server_error", "retry"),
        ("a", "server_error", "fallback"),
    ]
    assert all(body["stream"] is True for body in a.server.bodies + b.server.bodies)


async def test_a_stream_cut_after_its_first_chunk_is_not_retried(
    up: dict[str, Upstream], time: FakeTime
) -> None:
    a, b = up["a"], up["b"]
    a.server.enqueue(TruncatedStream(text="one two three", after_chunks=2))
    router = make_router(time)

    opened = await router.stream([a.deployment, b.deployment], HELLO, [])
    assert isinstance(opened, RouteStream)
    seen: list[str | None] = []

    async def read() -> None:
        async for delta in opened:
            seen.append(delta.text)

    with pytest.raises(StreamInterrupted) as cut:
        await read()

    assert seen == ["", "one "]
    assert cut.value.kind == "connection"
    assert (a.hits, b.hits) == (1, 0)
    assert actions(tuple(opened.events)) == [("a", "connection", "give_up")]
    assert router.breaker.failures("a") == 1
