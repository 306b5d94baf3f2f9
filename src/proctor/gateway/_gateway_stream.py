"""``GatewayStream``: what ``Gateway.stream`` returns, the deltas of an answer as they come.

The chunks are the caller's as soon as they arrive; the call's bookkeeping (price, cache
write, events) waits for the end, so a stream that breaks off is never cached and is
priced by an estimate of what it produced (the provider bills those tokens too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from proctor.gateway._deployment import Deployment, RouteOutcome
from proctor.gateway._prices import Price
from proctor.gateway._request import GatewayResult
from proctor.gateway._route_stream import RouteStream
from proctor.gateway._stream import StreamInterrupted, whole_deltas
from proctor.gateway._types import ModelDelta
from proctor.store import EventData


class GatewayStream:
    """An answer's deltas, then its ``result``.

    ``deployment``, ``cache_hit`` and ``upstream_ms`` (time awaiting upstreams until the
    first chunk) are known from the start. Iteration ends with ``complete`` ``True``, or
    raises ``StreamInterrupted`` (also kept in ``error``). ``result`` is the priced call
    once the stream is over: after the end, a break or ``aclose``; before a clean end it
    describes the part that arrived, usage estimated.
    """

    def __init__(
        self,
        route: RouteStream | None,
        *,
        events: list[EventData] | None = None,
        finish: Callable[[RouteOutcome], GatewayResult] | None = None,
        price: Callable[[Deployment], Price | None] | None = None,
        result: GatewayResult | None = None,
    ) -> None:
        # ``finish`` prices and caches the outcome of a stream that ended well (the
        # gateway's ``answered``); ``price`` prices the part of one that did not.
        self._route = route
        self._events = events if events is not None else []
        self._finish_with = finish
        self._price = price
        self._result = result
        self._whole: Iterator[ModelDelta] | None = None
        if route is not None:
            self.deployment = route.deployment.name
            self.model = route.deployment.client.name
            self.cache_hit = False
            self.upstream_ms = route.upstream_ms
        else:
            assert result is not None
            self.deployment = result.deployment
            self.model = result.response.model
            self.cache_hit = result.cache_hit
            self.upstream_ms = result.upstream_ms
            # Word-sized pieces: a whole answer reads like a stream to the caller.
            self._whole = whole_deltas(result.response, pieces=True)

    @classmethod
    def whole(cls, result: GatewayResult) -> GatewayStream:
        """A complete answer (a cache hit, a client that cannot stream), served as a stream."""
        return cls(None, result=result)

    @property
    def complete(self) -> bool:
        """The answer arrived whole: the stream ended with its finish."""
        if self._route is None:
            return True
        return self._route.outcome is not None

    @property
    def error(self) -> StreamInterrupted | None:
        return None if self._route is None else self._route.error

    @property
    def result(self) -> GatewayResult:
        """The call, priced; of a stream still under way or broken, the part so far."""
        if self._result is None:
            return self._partial()
        return self._result

    def __aiter__(self) -> GatewayStream:
        return self

    async def __anext__(self) -> ModelDelta:
        if self._whole is not None:
            delta = next(self._whole, None)
            if delta is None:
                raise StopAsyncIteration
            return delta
        assert self._route is not None
        try:
            return await anext(self._route)
        except StopAsyncIteration:
            self._finish()
            raise

    async def aclose(self) -> None:
        """Stop reading: an unfinished stream is abandoned and its upstream closed."""
        if self._route is not None:
            await self._route.aclose()

    def _finish(self) -> None:
        route = self._route
        if self._result is not None or route is None or route.outcome is None:
            return
        assert self._finish_with is not None
        self._result = self._finish_with(route.outcome)

    def _partial(self) -> GatewayResult:
        route = self._route
        assert route is not None
        assert self._price is not None
        response = route.partial()
        price = self._price(route.deployment)
        return GatewayResult(
            response=response,
            deployment=route.deployment.name,
            cost_usd=None if price is None else price.cost(response.usage),
            events=(*self._events, *route.events),
            upstream_ms=route.upstream_ms,
        )
