"""One call through a route: the attempts, retries, fallbacks and skips, as events.

A streamed call (``streaming``) is routed the same way up to its first chunk: opening
the stream and reading that chunk is the attempt. From then on it is committed to its
deployment (``RouteStream``): nothing was retried after a chunk could have been relayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from proctor.errors import ConfigError
from proctor.gateway._breaker import CircuitBreaker
from proctor.gateway._config import RetryConfig
from proctor.gateway._deployment import Deployment, RouteOutcome
from proctor.gateway._errors import (
    NO_FALLBACK,
    ErrorKind,
    GatewayError,
    ModelCallError,
    RateLimitExceeded,
)
from proctor.gateway._tokens import estimate_tokens
from proctor.gateway._types import (
    CallSettings,
    Message,
    ModelDelta,
    ModelResponse,
    RateLimiter,
    RateLimits,
    StreamingModelClient,
    ToolSpec,
)
from proctor.store import EventData, ModelAttemptFailed, RateLimited

logger = logging.getLogger("proctor.gateway.router")

# The request, not the deployment, is at fault: these say nothing about its health.
_NEUTRAL: frozenset[ErrorKind] = frozenset({"bad_request", "budget", "context_length"})
# A wrong key or model name will not fix itself: cool down at once.
_TRIP: frozenset[ErrorKind] = frozenset({"auth", "not_found"})

Action = Literal["retry", "fallback", "give_up"]


class Routing(Protocol):
    """What a call needs of the ``Router`` it runs under: policy, shared breaker, time."""

    retry: RetryConfig
    breaker: CircuitBreaker
    limiter: RateLimiter | None
    max_wait_s: float
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]
    jitter: Callable[[], float]


@dataclass(frozen=True, kw_only=True, slots=True)
class Opened:
    """A stream whose first chunk has arrived from ``deployment``: ``rest`` yields the others."""

    deployment: Deployment
    first: ModelDelta
    rest: AsyncGenerator[ModelDelta, None]


class RouteCall:
    """The state of one ``Router.call``: what is left to try and what happened so far."""

    def __init__(
        self,
        router: Routing,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: CallSettings,
        larger: Sequence[Deployment],
        prompt_tokens: int | None = None,
        *,
        streaming: bool = False,
    ) -> None:
        self.router = router
        self.streaming = streaming
        self.breaker = router.breaker
        self.messages = messages
        self.tools = tools
        self.settings = settings
        self.larger = larger
        # What the rate limiter is charged before the call; corrected by the real usage.
        if prompt_tokens is None and router.limiter is not None:
            prompt_tokens = estimate_tokens(messages, tools)
        self.tokens = (prompt_tokens or 0) + (settings.max_tokens or 0)
        self.pending: list[Deployment] = []
        self.tried: set[str] = set()
        self.events: list[EventData] = []
        self.outcomes: dict[str, str] = {}  # deployment -> its last error kind, or "cooldown"
        self.last: ModelCallError | None = None
        self.upstream_s = 0.0  # awaiting clients: what the endpoint's overhead leaves out
        self.attempt = 0  # of the deployment being called

    async def run(self, chain: Sequence[Deployment]) -> RouteOutcome | Opened:
        """The first answer of ``chain``: whole, or (``streaming``) a stream just opened."""
        self.pending = list(chain)
        while self.pending:
            deployment = self.pending.pop(0)
            if not self.breaker.acquire(deployment.name):
                self._skip(deployment)
                continue
            self.tried.add(deployment.name)
            answer: ModelResponse | Opened | None = None
            try:
                answer = await self._attempts(deployment)
            finally:
                if not isinstance(answer, Opened):  # a stream gives its verdict when it ends
                    self.breaker.release(deployment.name)  # no-op unless a trial was undecided
            if isinstance(answer, ModelResponse):
                return RouteOutcome(
                    response=answer,
                    deployment=deployment,
                    events=tuple(self.events),
                    upstream_ms=self.upstream_s * 1000,
                )
            if answer is not None:
                return answer
        raise GatewayError(
            self._failure_message(),
            events=self.events,
            kind=None if self.last is None else self.last.kind,
        )

    async def _attempts(self, deployment: Deployment) -> ModelResponse | Opened | None:
        """Call one deployment, retrying; ``None`` once ``pending`` says where to go next."""
        attempt = 0
        while True:
            attempt += 1
            if not await self._acquire(deployment, attempt):
                return None
            started = self.router.clock()
            self.attempt = attempt
            try:
                response = await self._send(deployment)
            except ConfigError:
                raise  # our own configuration, not the deployment: no fallback would help
            except Exception as exc:
                error = _as_call_error(exc, deployment)
            else:
                if isinstance(response, Opened):
                    return response  # verdict and settlement once the stream has ended
                self.breaker.success(deployment.name)
                await self.settle(deployment, response)
                return response
            latency_ms = (self.router.clock() - started) * 1000
            if error.kind in _NEUTRAL:
                self.breaker.release(deployment.name)
            else:
                self.breaker.failure(deployment.name, trip=error.kind in _TRIP)
            backoff = self._retry_delay(deployment, error, attempt)
            if backoff is not None:
                self._record(deployment, attempt, error, "retry", latency_ms, backoff_s=backoff)
                await self.router.sleep(backoff)
                continue
            self._record(deployment, attempt, error, self._fall_back(deployment, error), latency_ms)
            return None

    async def _send(self, deployment: Deployment) -> ModelResponse | Opened:
        timeout_s = self.settings.timeout_s or deployment.timeout_s
        settings = replace(self.settings, timeout_s=timeout_s)
        started = time.perf_counter()
        try:
            return await self._await_client(deployment, settings)
        finally:
            self.upstream_s += time.perf_counter() - started

    async def _await_client(
        self, deployment: Deployment, settings: CallSettings
    ) -> ModelResponse | Opened:
        timeout_s = settings.timeout_s
        answer = self._client_call(deployment, settings)
        if timeout_s is None:
            return await answer
        try:
            # Enforced here too: a client's own timeout may be per read, not per call.
            async with asyncio.timeout(timeout_s):
                return await answer
        except TimeoutError as exc:
            raise ModelCallError(
                f"deployment {deployment.name!r} ({deployment.model}) did not answer within "
                f"{timeout_s:g}s: raise its timeout_s, or let the route fall back sooner",
                kind="timeout",
            ) from exc

    def _client_call(
        self, deployment: Deployment, settings: CallSettings
    ) -> Coroutine[Any, Any, ModelResponse | Opened]:
        """The client's call of one attempt (the hook another kind of call replaces)."""
        client = deployment.client
        if self.streaming and isinstance(client, StreamingModelClient):
            return self._open(deployment, client, settings)
        return client.complete(self.messages, self.tools, settings=settings)

    async def _open(
        self, deployment: Deployment, client: StreamingModelClient, settings: CallSettings
    ) -> Opened:
        """Start a stream and read its first chunk: until then, it may still be retried."""
        deltas = client.stream(self.messages, self.tools, settings=settings)
        try:
            first = await anext(deltas)
        except StopAsyncIteration:
            raise ModelCallError(
                f"deployment {deployment.name!r} ({deployment.model}) ended its stream "
                "without sending anything: check that the server is OpenAI-compatible",
                kind="invalid_response",
            ) from None
        return Opened(deployment=deployment, first=first, rest=deltas)

    def _retry_delay(
        self, deployment: Deployment, error: ModelCallError, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying the same deployment, or ``None``: move on."""
        retry = self.router.retry
        if not error.retryable or attempt > retry.max_retries:
            return None
        if self.breaker.is_open(deployment.name):
            return None  # this failure (or another call's) opened the circuit
        delay = (
            min(retry.max_backoff_s, retry.backoff_s * 2.0 ** (attempt - 1)) * self.router.jitter()
        )
        if error.retry_after_s is not None:
            if error.retry_after_s > retry.max_backoff_s * 4:
                return None  # asked to come back much later: another deployment is quicker
            delay = max(delay, error.retry_after_s)
        return delay

    def _fall_back(self, deployment: Deployment, error: ModelCallError) -> Action:
        """Decide what to try after ``deployment`` gave up with ``error``; update ``pending``."""
        if error.kind in NO_FALLBACK:
            self.pending.clear()  # another deployment would refuse the same request
        elif error.kind == "context_length":
            self.pending = self._larger_than(deployment)
        return "fallback" if self.pending else "give_up"

    def _larger_than(self, deployment: Deployment) -> list[Deployment]:
        """The deployments that may fit a prompt too long for ``deployment``."""
        window = deployment.context_window

        def fits_more(other: Deployment) -> bool:
            return window is None or other.context_window is None or other.context_window > window

        # Not knowing how much was too much, bet on the largest window known.
        candidates = reversed(self.larger) if window is None else iter(self.larger)
        bigger = next(
            (
                d
                for d in candidates
                if d.context_window is not None
                and fits_more(d)
                and d.name not in self.tried
                and not self.breaker.is_open(d.name)
            ),
            None,
        )
        rest = [
            d for d in self.pending if fits_more(d) and (bigger is None or d.name != bigger.name)
        ]
        return rest if bigger is None else [bigger, *rest]

    async def _acquire(self, deployment: Deployment, attempt: int) -> bool:
        """Take rate-limit capacity; on refusal record it and fall back (``False``)."""
        limiter, limits = self.router.limiter, deployment.limits
        if limiter is None or not _limited(limits):
            return True
        scope = f"deployment:{deployment.name}"
        started = self.router.clock()
        try:
            waited = await limiter.acquire(
                scope, limits, tokens=self.tokens, max_wait_s=self.router.max_wait_s
            )
        except RateLimitExceeded as exc:
            waited_ms = (self.router.clock() - started) * 1000
            self.events.append(
                RateLimited(
                    scope=exc.scope, limit=exc.limit, waited_ms=waited_ms, outcome="refused"
                )
            )
            # Nothing was sent: the deployment's health is unknown, not bad.
            action: Action = "fallback" if self.pending else "give_up"
            self._record(deployment, attempt, exc, action, 0.0)
            return False
        if waited > 0:
            self.events.append(
                RateLimited(
                    scope=scope,
                    limit=_limit_name(limits),
                    waited_ms=waited * 1000,
                    outcome="waited",
                )
            )
        return True

    async def settle(self, deployment: Deployment, response: ModelResponse) -> None:
        """Correct the deployment's token bucket by the answer's real usage."""
        limiter, limits = self.router.limiter, deployment.limits
        if limiter is None or not _limited(limits):
            return
        scope = f"deployment:{deployment.name}"
        try:
            await limiter.settle(scope, limits, tokens_delta=response.usage.total - self.tokens)
        except Exception:
            # The answer is paid for already: a bookkeeping failure must not lose it.
            logger.warning("could not settle the token bucket of %s", scope, exc_info=True)

    def _record(
        self,
        deployment: Deployment,
        attempt: int,
        error: ModelCallError,
        action: Action,
        latency_ms: float,
        *,
        backoff_s: float | None = None,
    ) -> None:
        if action == "retry":
            following: str | None = deployment.name
        else:
            following = self.pending[0].name if action == "fallback" else None
        self.events.append(
            ModelAttemptFailed(
                deployment=deployment.name,
                model=deployment.model,
                attempt=attempt,
                kind=error.kind,
                action=action,
                status=error.status,
                retry_after_s=error.retry_after_s,
                backoff_s=backoff_s,
                latency_ms=latency_ms,
                next_deployment=following,
                error=str(error),
            )
        )
        self.outcomes[deployment.name] = error.kind
        self.last = error

    def _skip(self, deployment: Deployment) -> None:
        left = self.breaker.cooling(deployment.name)
        why = f"{left:.1f}s of cooldown left" if left > 0 else "its trial call is in flight"
        self.events.append(
            ModelAttemptFailed(
                deployment=deployment.name,
                model=deployment.model,
                attempt=0,
                kind="cooldown",
                action="skipped",
                next_deployment=self.pending[0].name if self.pending else None,
                error=f"skipped after {self.breaker.failures(deployment.name)} failures: {why}",
            )
        )
        self.outcomes[deployment.name] = "cooldown"

    def _failure_message(self) -> str:
        last = self.last
        if last is None:  # every deployment was skipped
            waits = ", ".join(
                f"{name} (tried again in {self.breaker.cooling(name):.1f}s)"
                for name in self.outcomes
            )
            return (
                f"every deployment of the route is cooling down after repeated failures: "
                f"{waits}. Fix: wait, or add a fallback model to the route"
            )
        if last.kind in NO_FALLBACK:
            return f"{last}. Not sent to another deployment: it would refuse the same request"
        summary = ", ".join(f"{name} ({kind})" for name, kind in self.outcomes.items())
        fix = (
            "compact the conversation, or add a model with a larger context window to the route"
            if last.kind == "context_length"
            else "check base_url / keys, or add a fallback model to the route"
        )
        return f"every deployment of the route failed: {summary}. Last error: {last}. Fix: {fix}"


def _as_call_error(exc: Exception, deployment: Deployment) -> ModelCallError:
    if isinstance(exc, ModelCallError):
        return exc
    # A client bug, or a ModelError without a kind: unusable, but maybe not elsewhere.
    return ModelCallError(
        f"deployment {deployment.name!r} ({deployment.model}) failed: {type(exc).__name__}: {exc}",
        kind="invalid_response",
    )


def _limited(limits: RateLimits) -> bool:
    return limits.rpm is not None or limits.tpm is not None


def _limit_name(limits: RateLimits) -> str:
    return "/".join(name for name, value in (("rpm", limits.rpm), ("tpm", limits.tpm)) if value)
