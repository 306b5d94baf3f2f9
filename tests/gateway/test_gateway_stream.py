"""``Gateway.stream``: routing up to the first chunk, then a committed stream's bookkeeping.

Clients here are scripted streams (``ScriptedStream``); the endpoint over real HTTP is
``test_http_stream``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Sequence

import pytest

from proctor.gateway import Gateway, MemoryCache, UserMessage
from proctor.gateway._deployment import Deployment
from proctor.gateway._errors import ModelCallError
from proctor.gateway._gateway_stream import GatewayStream
from proctor.gateway._prices import Price
from proctor.gateway._request import ModelRequest
from proctor.gateway._stream import DeltaAssembler, StreamInterrupted
from proctor.gateway._types import (
    CallSettings,
    Message,
    ModelDelta,
    ModelResponse,
    RateLimits,
    StreamingModelClient,
    ToolCallDelta,
    ToolSpec,
)
from proctor.store import ModelAttemptFailed, Usage
from support.router_fakes import FakeClient, FakeLimiter, FakeTime, make_router

HELLO = [UserMessage(content="hello")]
PRICE = Price(input_per_million=1.0, output_per_million=2.0)
USAGE = Usage(input_tokens=10, output_tokens=4)


class Hang:
    """A step that never comes (until a timeout or a close cancels the wait)."""


Step = ModelDelta | BaseException | Hang


def answer(*pieces: str, finish: str = "stop", usage: Usage | None = USAGE) -> list[Step]:
    steps: list[Step] = [ModelDelta(text="")]
    steps += [ModelDelta(text=piece) for piece in pieces]
    steps.append(ModelDelta(finish_reason=finish))
    if usage is not None:
        steps.append(ModelDelta(usage=usage))
    return steps


class ScriptedStream:
    """A streaming client playing one script of steps per call, then ``answer("ok")``."""

    def __init__(self, name: str, *scripts: Sequence[Step]) -> None:
        self._name = name
        self.scripts: deque[Sequence[Step]] = deque(scripts)
        self.opened = 0
        self.closed = 0

    @property
    def name(self) -> str:
        return self._name

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        raise AssertionError("a streaming call must not fall back to complete()")

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> AsyncGenerator[ModelDelta, None]:
        script = self.scripts.popleft() if self.scripts else answer("ok")
        self.opened += 1
        try:
            for step in script:
                if isinstance(step, BaseException):
                    raise step
                if isinstance(step, Hang):
                    await asyncio.Event().wait()
                    continue
                yield step
        finally:
            self.closed += 1


def deployment(client: ScriptedStream | FakeClient, timeout_s: float | None = None) -> Deployment:
    return Deployment(
        name=client.name,
        client=client,
        model=f"{client.name}-model",
        price=PRICE,
        limits=RateLimits(rpm=100),
        timeout_s=timeout_s,
    )


def gateway(
    *clients: ScriptedStream | FakeClient,
    time: FakeTime,
    timeout_s: float | None = None,
    allowed_failures: int = 3,
    limiter: FakeLimiter | None = None,
) -> Gateway:
    deployments = {c.name: deployment(c, timeout_s) for c in clients}
    return Gateway(
        deployments=deployments,
        routes={"route": list(deployments)},
        default_route="route",
        router=make_router(time, allowed_failures=allowed_failures, limiter=limiter),
        cache=MemoryCache(),
    )


async def drain(stream: GatewayStream, into: list[ModelDelta] | None = None) -> list[ModelDelta]:
    """Every delta of ``stream``; also appended to ``into`` as they come (kept on a break)."""
    deltas = [] if into is None else into
    async for delta in stream:
        deltas.append(delta)
    return deltas


def failures(events: Sequence[object]) -> list[tuple[str, str, str]]:
    return [(e.deployment, e.kind, e.action) for e in events if isinstance(e, ModelAttemptFailed)]


def test_deltas_assemble_into_the_answer() -> None:
    assembler = DeltaAssembler("m")
    for delta in [
        ModelDelta(text="Let me "),
        ModelDelta(tool_calls=(ToolCallDelta(index=0, id="a", name="erp.fetch_po"),)),
        ModelDelta(tool_calls=(ToolCallDelta(index=1, id="b", name="crm.lookup"),)),
        ModelDelta(text="check."),
        ModelDelta(tool_calls=(ToolCallDelta(index=1, arguments='{"q": '),)),
        ModelDelta(tool_calls=(ToolCallDelta(index=0, arguments='{"po": "P1"}'),)),
        ModelDelta(tool_calls=(ToolCallDelta(index=1, arguments="2}"),)),
        ModelDelta(finish_reason="tool_calls"),
        ModelDelta(usage=USAGE),
    ]:
        assembler.add(delta)

    response = assembler.response(lambda: pytest.fail("the usage was sent: nothing to estimate"))

    assert response.text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("a", "erp.fetch_po", {"po": "P1"}),
        ("b", "crm.lookup", {"q": 2}),
    ]
    assert (response.finish_reason, response.usage, response.usage_estimated) == (
        "tool_calls",
        USAGE,
        False,
    )


async def test_a_stream_is_relayed_then_priced_settled_and_cached() -> None:
    time, limiter = FakeTime(), FakeLimiter()
    client = ScriptedStream("a", answer("Hel", "lo"))
    gw = gateway(client, time=time, limiter=limiter)

    stream = await gw.stream(ModelRequest(messages=HELLO))
    deltas = await drain(stream)

    assert [d.text for d in deltas if d.text] == ["Hel", "lo"]
    assert stream.complete
    assert stream.error is None
    result = stream.result
    assert (result.response.text, result.response.usage, result.deployment) == ("Hello", USAGE, "a")
    assert result.cost_usd == pytest.approx(PRICE.cost(USAGE))
    assert limiter.settled == [("deployment:a", USAGE.total - limiter.acquired[0][2])]
    await gw.flush()
    again = await gw.stream(ModelRequest(messages=HELLO))
    assert again.cache_hit
    assert "".join([d.text or "" for d in await drain(again)]) == "Hello"
    assert client.opened == 1


async def test_without_usage_the_answer_is_estimated_and_flagged() -> None:
    gw = gateway(ScriptedStream("a", answer("some text", usage=None)), time=FakeTime())
    stream = await gw.stream(ModelRequest(messages=HELLO))
    await drain(stream)
    response = stream.result.response
    assert response.usage_estimated
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert stream.result.cost_usd == pytest.approx(PRICE.cost(response.usage))


async def test_a_failure_before_the_first_chunk_is_retried() -> None:
    time = FakeTime()
    boom = ModelCallError("HTTP 500", kind="server_error", status=500)
    client = ScriptedStream("a", [boom], answer("fine"))
    gw = gateway(client, time=time)

    stream = await gw.stream(ModelRequest(messages=HELLO))
    await drain(stream)

    assert stream.result.response.text == "fine"
    assert failures(stream.result.events) == [("a", "server_error", "retry")]
    assert time.sleeps == [0.5]
    assert client.opened == 2


async def test_a_stream_that_never_starts_falls_back() -> None:
    a = ScriptedStream("a", [], [], [])  # ends before any chunk, every time
    b = ScriptedStream("b", answer("from b"))
    stream = await gateway(a, b, time=FakeTime()).stream(ModelRequest(messages=HELLO))
    await drain(stream)
    assert stream.deployment == "b"
    assert failures(stream.result.events) == [("a", "invalid_response", "fallback")]


@pytest.mark.parametrize(
    ("tail", "kind"),
    [
        ([], "truncated"),  # the stream ends without a finish_reason
        ([ModelCallError("the connection broke", kind="connection")], "connection"),
        ([ValueError("a client bug")], "invalid_response"),
    ],
)
async def test_a_break_after_the_first_chunk_is_recorded_not_retried(
    tail: list[Step], kind: str
) -> None:
    a = ScriptedStream("a", [ModelDelta(text=""), ModelDelta(text="half an "), *tail])
    b = ScriptedStream("b")
    gw = gateway(a, b, time=FakeTime())

    stream = await gw.stream(ModelRequest(messages=HELLO))
    seen: list[ModelDelta] = []
    with pytest.raises(StreamInterrupted) as broken:
        await drain(stream, seen)

    assert [d.text for d in seen] == ["", "half an "]
    assert broken.value.kind == kind
    assert stream.error is broken.value
    assert not stream.complete
    assert failures(stream.result.events) == [("a", kind, "give_up")]
    assert (a.opened, b.opened) == (1, 0)  # nothing after a relayed chunk goes elsewhere
    assert gw.router.breaker.failures("a") == 1
    partial = stream.result
    assert partial.response.text == "half an "
    assert partial.response.usage_estimated
    assert partial.cost_usd is not None
    assert partial.cost_usd > 0
    await gw.flush()
    assert gw.cache is not None
    assert isinstance(gw.cache, MemoryCache)
    assert len(gw.cache._entries) == 0


async def test_broken_streams_cool_a_deployment_down() -> None:
    cut: list[Step] = [ModelDelta(text=""), ModelDelta(text="cut")]
    a, b = ScriptedStream("a", cut, cut), ScriptedStream("b")
    gw = gateway(a, b, time=FakeTime(), allowed_failures=2)
    for _ in range(2):
        with pytest.raises(StreamInterrupted):
            await drain(await gw.stream(ModelRequest(messages=HELLO)))

    third = await gw.stream(ModelRequest(messages=HELLO))
    await drain(third)

    assert third.deployment == "b"
    assert failures(third.result.events) == [("a", "cooldown", "skipped")]


async def test_a_stall_mid_stream_times_out() -> None:
    client = ScriptedStream("a", [ModelDelta(text=""), ModelDelta(text="x"), Hang()])
    gw = gateway(client, time=FakeTime(), timeout_s=0.05)
    stream = await gw.stream(ModelRequest(messages=HELLO))
    async with asyncio.timeout(5):
        with pytest.raises(StreamInterrupted) as stalled:
            await drain(stream)
    assert stalled.value.kind == "timeout"
    assert client.closed == 1


async def test_abandoning_a_stream_closes_it_without_a_verdict() -> None:
    client = ScriptedStream("a", [ModelDelta(text=""), ModelDelta(text="x"), Hang()])
    gw = gateway(client, time=FakeTime())
    stream = await gw.stream(ModelRequest(messages=HELLO))
    await anext(stream)
    await anext(stream)

    await stream.aclose()

    assert client.closed == 1
    assert gw.router.breaker.failures("a") == 0
    assert not stream.complete
    assert stream.error is None
    assert stream.result.response.text == "x"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_client_that_cannot_stream_answers_whole() -> None:
    client = FakeClient("plain")
    assert not isinstance(client, StreamingModelClient)
    stream = await gateway(client, time=FakeTime()).stream(ModelRequest(messages=HELLO))
    assert stream.complete
    assert not stream.cache_hit
    deltas = await drain(stream)
    assert [d.text for d in deltas if d.text] == ["ok"]
    assert deltas[-2].finish_reason == "stop"
    assert stream.result.cost_usd == pytest.approx(PRICE.cost(stream.result.response.usage))
    assert len(client.calls) == 1
