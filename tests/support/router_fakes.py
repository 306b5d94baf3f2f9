"""Fakes for router tests: a scripted model client, a fake clock, a recording rate limiter."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from proctor.gateway._config import CooldownConfig, RetryConfig
from proctor.gateway._deployment import Deployment
from proctor.gateway._errors import RateLimitExceeded
from proctor.gateway._router import Router
from proctor.gateway._types import (
    BucketLevels,
    CallSettings,
    Message,
    ModelClient,
    ModelResponse,
    RateLimits,
    ToolSpec,
)
from proctor.store import Usage


class Hang:
    """An outcome that never answers (until the router's timeout cancels it)."""


@dataclass(eq=False)
class Gate:
    """An outcome that answers once ``opened`` is set: keeps a call in flight."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)


Outcome = ModelResponse | BaseException | Hang | Gate


class FakeClient:
    """Answers from a script of outcomes (responses or exceptions), then ``ok``."""

    def __init__(self, name: str, *outcomes: Outcome) -> None:
        self._name = name
        self.outcomes: deque[Outcome] = deque(outcomes)
        self.calls: list[CallSettings | None] = []

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
        self.calls.append(settings)
        outcome = self.outcomes.popleft() if self.outcomes else ok(self._name)
        if isinstance(outcome, Hang):
            await asyncio.Event().wait()
            raise AssertionError("unreachable: the router cancels a hanging call")
        if isinstance(outcome, Gate):
            outcome.entered.set()
            await outcome.opened.wait()
            return ok(self._name)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def ok(model: str, text: str = "ok", tokens: tuple[int, int] = (10, 5)) -> ModelResponse:
    return ModelResponse(
        model=model, text=text, usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1])
    )


def deployment(
    name: str,
    client: ModelClient | None = None,
    *,
    window: int | None = None,
    limits: RateLimits | None = None,
    timeout_s: float | None = None,
) -> Deployment:
    return Deployment(
        name=name,
        client=client or FakeClient(name),
        model=f"{name}-model",
        context_window=window,
        limits=limits or RateLimits(),
        timeout_s=timeout_s,
    )


def calls(d: Deployment) -> int:
    """How many times the deployment's client was called."""
    client = d.client
    assert isinstance(client, FakeClient)
    return len(client.calls)


@dataclass
class FakeTime:
    """A clock that moves only when told to, or when the router sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_router(
    time: FakeTime,
    *,
    max_retries: int = 2,
    backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
    allowed_failures: int = 3,
    cooldown_s: float = 30.0,
    jitter: float = 1.0,
    limiter: FakeLimiter | None = None,
) -> Router:
    return Router(
        RetryConfig(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s),
        CooldownConfig(allowed_failures=allowed_failures, cooldown_s=cooldown_s),
        limiter=limiter,
        max_wait_s=2.0,
        sleep=time.sleep,
        clock=time.clock,
        jitter=lambda: jitter,
    )


@dataclass
class FakeLimiter:
    """Records acquire/settle; waits ``waited`` seconds, or refuses scopes in ``refuse``."""

    waited: float = 0.0
    refuse: set[str] = field(default_factory=set)
    acquired: list[tuple[str, RateLimits, int, float]] = field(default_factory=list)
    settled: list[tuple[str, int]] = field(default_factory=list)

    async def acquire(
        self, scope: str, limits: RateLimits, *, tokens: int, max_wait_s: float
    ) -> float:
        self.acquired.append((scope, limits, tokens, max_wait_s))
        if scope in self.refuse:
            raise RateLimitExceeded(
                f"{scope} is over its requests-per-minute limit",
                scope=scope,
                limit="rpm",
                retry_in_s=12.0,
            )
        return self.waited

    async def settle(self, scope: str, limits: RateLimits, *, tokens_delta: int) -> None:
        self.settled.append((scope, tokens_delta))

    def levels(self, scope: str, limits: RateLimits) -> BucketLevels | None:
        return None
