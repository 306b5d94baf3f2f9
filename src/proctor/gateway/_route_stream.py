"""``RouteStream``: a deployment's answer while it streams, committed to that deployment.

Its first chunk may already be with the caller, so a failure now cannot be retried or
sent elsewhere: it is recorded (a ``model_attempt_failed`` event, a breaker failure) and
raised as ``StreamInterrupted``. A stream that ends well settles as a whole call does:
breaker success, the token bucket corrected by the real usage, a ``RouteOutcome``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from proctor.gateway._deployment import Deployment, RouteOutcome
from proctor.gateway._errors import ErrorKind, ModelCallError
from proctor.gateway._route_call import RouteCall
from proctor.gateway._stream import DeltaAssembler, StreamInterrupted
from proctor.gateway._types import ModelDelta, ModelResponse
from proctor.store import EventData, ModelAttemptFailed


class RouteStream:
    """The deltas of the deployment that started answering, then its outcome.

    Iterate it for the deltas (the first one has arrived already). It ends with
    ``outcome`` set, or raises ``StreamInterrupted`` with ``error`` set. ``aclose``
    abandons it (the caller left): the upstream connection is closed, no verdict given.
    """

    def __init__(
        self,
        call: RouteCall,
        deployment: Deployment,
        first: ModelDelta,
        rest: AsyncGenerator[ModelDelta, None],
    ) -> None:
        self.deployment = deployment
        self.events: list[EventData] = call.events
        self.upstream_ms = call.upstream_s * 1000
        """Time awaiting the deployments' clients up to the first chunk."""
        self.outcome: RouteOutcome | None = None
        self.error: StreamInterrupted | None = None
        self._call = call
        self._first: ModelDelta | None = first
        self._rest = rest
        self._attempt = call.attempt
        self._started = call.router.clock()
        self._timeout_s = call.settings.timeout_s or deployment.timeout_s
        self._assembler = DeltaAssembler(deployment.client.name)
        self._closed = False
        self._assembler.add(first)

    @property
    def done(self) -> bool:
        return self.outcome is not None or self.error is not None or self._closed

    def partial(self) -> ModelResponse:
        """What has arrived so far, usage estimated unless the provider sent it."""
        return self._assembler.response(self._prompt_tokens)

    def __aiter__(self) -> RouteStream:
        return self

    async def __anext__(self) -> ModelDelta:
        first = self._first
        if first is not None:
            self._first = None
            return first
        if self.done:
            raise StopAsyncIteration
        try:
            if self._timeout_s is None:
                delta = await anext(self._rest)
            else:
                # Per chunk, not per call: a long answer may take minutes, a stall may not.
                async with asyncio.timeout(self._timeout_s):
                    delta = await anext(self._rest)
        except StopAsyncIteration:
            if self._assembler.finish_reason is None:
                raise self._broken(
                    "truncated",
                    "ended its stream before the answer was complete (no finish_reason)",
                ) from None
            await self._complete()
            raise
        except TimeoutError:
            raise self._broken(
                "timeout", f"sent nothing for {self._timeout_s:g}s in the middle of its stream"
            ) from None
        except ModelCallError as exc:
            raise self._broken(exc.kind, str(exc), prefix=False) from exc
        except Exception as exc:  # a client bug: the stream is as broken as if it had dropped
            raise self._broken(
                "invalid_response", f"failed mid-stream: {type(exc).__name__}: {exc}"
            ) from exc
        self._assembler.add(delta)
        return delta

    async def aclose(self) -> None:
        """Abandon the stream if it is still under way (closes the upstream connection)."""
        if self.done:
            return
        self._closed = True
        # Its answer was fine as far as it went: the deployment gets no verdict.
        self._call.breaker.release(self.deployment.name)
        await self._rest.aclose()

    async def _complete(self) -> None:
        response = self.partial()
        self._call.breaker.success(self.deployment.name)
        await self._call.settle(self.deployment, response)
        self.outcome = RouteOutcome(
            response=response,
            deployment=self.deployment,
            events=tuple(self.events),
            upstream_ms=self.upstream_ms,
        )

    def _broken(self, kind: ErrorKind, error: str, *, prefix: bool = True) -> StreamInterrupted:
        deployment = self.deployment
        if prefix:
            error = f"deployment {deployment.name!r} ({deployment.model}) {error}"
        self._call.breaker.failure(deployment.name)
        self.events.append(
            ModelAttemptFailed(
                deployment=deployment.name,
                model=deployment.model,
                attempt=self._attempt,
                kind=kind,
                action="give_up",  # chunks were relayed: another answer cannot follow them
                latency_ms=(self._call.router.clock() - self._started) * 1000,
                error=error,
            )
        )
        self.error = StreamInterrupted(
            f"the answer broke off after it had started: {error}", kind=kind
        )
        return self.error

    def _prompt_tokens(self) -> int:
        from proctor.gateway._tokens import estimate_tokens

        return estimate_tokens(self._call.messages, self._call.tools)
