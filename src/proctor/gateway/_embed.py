"""``Gateway.embed``: an embeddings call through a route, with its budget, limits and price.

The route's deployments that can embed are tried as a completion's are: retries with
backoff, cooldown of a failing deployment, rate limits, every failed attempt an event.
Fallback is narrower: only to deployments of the *same* provider model (the same model at
another endpoint or key). Vectors of different models live in different spaces (often of
different sizes); an index mixing them would answer nonsense without any error, so a
route whose embedding model fails gives up rather than answering from another.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, Protocol

from proctor.gateway._deployment import Deployment
from proctor.gateway._embeddings import (
    EmbeddingClient,
    EmbeddingInput,
    Embeddings,
    EmbedRequest,
    EmbedResult,
    EmbedSettings,
    input_tokens,
)
from proctor.gateway._errors import GatewayError
from proctor.gateway._prices import Price
from proctor.gateway._route_call import Opened, RouteCall
from proctor.gateway._router import Router
from proctor.gateway._types import CallSettings, ModelResponse, RateLimiter
from proctor.store import EventData, RateLimited, Usage


class Embedder(Protocol):
    """What an embeddings call needs of its ``Gateway``."""

    default_route: str
    router: Router
    limiter: RateLimiter | None
    max_wait_s: float

    def chain(self, route: str | None = None) -> list[Deployment]: ...

    def price(self, deployment: Deployment) -> Price | None: ...


class EmbedCall(RouteCall):
    """A ``RouteCall`` whose attempts embed instead of complete.

    The route machinery reads an attempt's answer as a ``ModelResponse`` (for its usage:
    rate-limit settlement, pricing); an embedding's answer is handed over as one that
    carries its usage and model, and the vectors are kept in ``embeddings``. Its circuit
    breaker is the router's ``embed_breaker``, apart from the completions' one.
    """

    def __init__(
        self,
        router: Router,
        inputs: EmbeddingInput,
        settings: EmbedSettings,
        tokens: int,
    ) -> None:
        super().__init__(router, (), (), CallSettings(timeout_s=settings.timeout_s), (), tokens)
        self.breaker = router.embed_breaker
        self.inputs = inputs
        self.embed_settings = settings
        self.embeddings: Embeddings | None = None

    def _client_call(
        self, deployment: Deployment, settings: CallSettings
    ) -> Coroutine[Any, Any, ModelResponse | Opened]:
        return self._embed(deployment, settings)

    async def _embed(self, deployment: Deployment, settings: CallSettings) -> ModelResponse:
        client = deployment.client
        assert isinstance(client, EmbeddingClient)  # the chain holds only those
        embed_settings = replace(self.embed_settings, timeout_s=settings.timeout_s)
        self.embeddings = await client.embed(self.inputs, settings=embed_settings)
        return ModelResponse(model=self.embeddings.model, usage=self.embeddings.usage)


def embedding_chain(gateway: Embedder, route: str | None) -> list[Deployment]:
    """The deployments of ``route`` an embeddings call may use: those that can embed, of
    the first one's model. ``GatewayError`` (``bad_request``) if none can."""
    chain = gateway.chain(route)
    able = [d for d in chain if isinstance(d.client, EmbeddingClient)]
    if not able:
        name = route or gateway.default_route
        models = ", ".join(f"{d.name} ({d.model})" for d in chain)
        raise GatewayError(
            f"route {name!r} cannot embed: its models ({models}) have no embeddings API. "
            "Fix: send embeddings to a route of OpenAI-compatible embedding models, e.g. "
            "add a model text-embedding-3-small (provider: openai) to proctor.yaml and use "
            "its name",
            kind="bad_request",
        )
    return [d for d in able if d.model == able[0].model]


async def embed(gateway: Embedder, request: EmbedRequest) -> EmbedResult:
    """Embed ``request.inputs`` through its route (see the module docstring)."""
    chain = embedding_chain(gateway, request.route)
    tokens = input_tokens(request.inputs)
    price = gateway.price(chain[0])
    if request.budget_usd is not None and price is not None:
        projected = price.cost(Usage(input_tokens=tokens))
        if projected > request.budget_usd:
            raise GatewayError(
                f"refused before sending: the call would cost about ${projected:.6f} "
                f"(estimated), more than the ${request.budget_usd:.6f} left in the budget",
                kind="budget",
            )
    events: list[EventData] = []
    if gateway.limiter is not None and request.scope and request.limits:
        waited = await gateway.limiter.acquire(
            request.scope, request.limits, tokens=tokens, max_wait_s=gateway.max_wait_s
        )
        if waited > 0:
            events.append(
                RateLimited(
                    scope=request.scope, limit="key", waited_ms=waited * 1000, outcome="waited"
                )
            )
    call = EmbedCall(gateway.router, request.inputs, request.settings or EmbedSettings(), tokens)
    try:
        outcome = await call.run(chain)
    except GatewayError as exc:
        exc.events = (*events, *exc.events)
        raise
    assert not isinstance(outcome, Opened)  # only a streaming call opens streams
    assert call.embeddings is not None
    events.extend(outcome.events)
    price = gateway.price(outcome.deployment)
    return EmbedResult(
        embeddings=call.embeddings,
        deployment=outcome.deployment.name,
        cost_usd=None if price is None else price.cost(call.embeddings.usage),
        events=tuple(events),
        upstream_ms=outcome.upstream_ms,
    )
