"""The router: try a route's deployments in order, with retries, fallback and cooldown.

One ``Router`` is shared by every call of a gateway, so a deployment that keeps failing
is skipped by later calls (circuit breaker) instead of being paid for again and again.
Every failed attempt, retry, fallback and skip is recorded as an event.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence

from proctor.gateway._breaker import CircuitBreaker
from proctor.gateway._config import CooldownConfig, RetryConfig
from proctor.gateway._deployment import Deployment, RouteOutcome
from proctor.gateway._errors import GatewayError
from proctor.gateway._route_call import Opened, RouteCall
from proctor.gateway._route_stream import RouteStream
from proctor.gateway._tokens import estimate_tokens
from proctor.gateway._types import CallSettings, Message, RateLimiter, ToolSpec

__all__ = ["Router", "estimate_tokens"]


class Router:
    """Calls a chain of deployments: retries with backoff, falls back, cools down failures.

    ``sleep``, ``clock`` and ``jitter`` are injectable so tests run without waiting.
    """

    def __init__(
        self,
        retry: RetryConfig,
        cooldown: CooldownConfig,
        *,
        limiter: RateLimiter | None = None,
        max_wait_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.retry = retry
        self.cooldown = cooldown
        self.limiter = limiter
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter
        self.breaker = CircuitBreaker(cooldown, clock)
        # Embeddings go to another API of the same deployments: a model that cannot embed
        # (a 404 there) must not cool down its completions, nor the other way round.
        self.embed_breaker = CircuitBreaker(cooldown, clock)

    def cooling(self, deployment: str) -> float:
        """Seconds of cooldown left for ``deployment`` (0 if it may be called)."""
        return self.breaker.cooling(deployment)

    async def call(
        self,
        chain: Sequence[Deployment],
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
        larger: Sequence[Deployment] = (),
        prompt_tokens: int | None = None,
    ) -> RouteOutcome:
        """Complete with the first deployment of ``chain`` that answers.

        ``larger`` lists deployments by growing context window: where to go when a
        deployment says the prompt is too long. Raises ``GatewayError`` (with the events)
        when none answers.
        """
        answer = await self._route(chain, messages, tools, settings, larger, prompt_tokens)
        assert isinstance(answer, RouteOutcome)  # only a streaming call opens streams
        return answer

    async def stream(
        self,
        chain: Sequence[Deployment],
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
        larger: Sequence[Deployment] = (),
        prompt_tokens: int | None = None,
    ) -> RouteOutcome | RouteStream:
        """As ``call``, streaming: returns once a deployment has sent its first chunk.

        Every failure before that chunk is retried and falls back as in ``call``.
        A deployment whose client cannot stream answers whole (a ``RouteOutcome``).
        """
        return await self._route(
            chain, messages, tools, settings, larger, prompt_tokens, streaming=True
        )

    async def _route(
        self,
        chain: Sequence[Deployment],
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: CallSettings | None,
        larger: Sequence[Deployment],
        prompt_tokens: int | None,
        *,
        streaming: bool = False,
    ) -> RouteOutcome | RouteStream:
        if not chain:
            raise GatewayError("the route has no deployments. Fix: list at least one model in it")
        settings = settings or CallSettings()
        call = RouteCall(
            self, messages, tools, settings, larger, prompt_tokens, streaming=streaming
        )
        answer = await call.run(chain)
        if isinstance(answer, Opened):  # committed to the deployment that started answering
            return RouteStream(call, answer.deployment, answer.first, answer.rest)
        return answer
