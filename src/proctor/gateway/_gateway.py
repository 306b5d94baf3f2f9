"""``Gateway``: routes, caches, rate limits, budgets and prices around model calls.

One call: check the projected cost against the caller's budget, serve from the response
cache when allowed, wait for the caller's rate limit, let the ``Router`` try the route's
deployments (retries, fallback, cooldown), price the answer, cache it. Everything that
happened on the way comes back as events for the caller's log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from proctor.errors import ConfigError
from proctor.gateway._config import CooldownConfig, GatewayConfig, RetryConfig
from proctor.gateway._deployment import Deployment, RouteOutcome
from proctor.gateway._embeddings import EmbedRequest, EmbedResult
from proctor.gateway._errors import GatewayError
from proctor.gateway._gateway_stream import GatewayStream
from proctor.gateway._price_table import PriceTable
from proctor.gateway._prices import Price
from proctor.gateway._request import GatewayResult, ModelRequest, Preflight
from proctor.gateway._route_stream import RouteStream
from proctor.gateway._router import Router
from proctor.gateway._tokens import estimate_tokens
from proctor.gateway._types import (
    CallSettings,
    Message,
    ModelClient,
    ModelResponse,
    RateLimiter,
    RateLimits,
    ResponseCache,
    ToolSpec,
)
from proctor.store import CacheHit, EventData, RateLimited

logger = logging.getLogger("proctor.gateway")


_CACHE_KEY_PURPOSE = b"proctor/gateway-cache-keys/v1"
MIN_CACHE_SECRET_BYTES = 16


class Gateway:
    """Model calls with routing, fallback, caching, rate limits and cost.

    Cache keys are HMACs under ``cache_secret``, so the keys a cache stores reveal nothing
    of the conversations and arguments they stand for. Processes that share a cache (the
    store, Redis) share entries only if they share the secret: pass the store's signing key
    (``proctor.policy.load_signing_key()``). Without one, a random secret keeps this
    gateway's entries to itself.
    """

    def __init__(
        self,
        *,
        deployments: Mapping[str, Deployment],
        routes: Mapping[str, Sequence[str]],
        default_route: str,
        router: Router,
        prices: PriceTable | None = None,
        cache: ResponseCache | None = None,
        cache_ttl_s: float = 3600.0,
        cache_sampled: bool = False,
        limiter: RateLimiter | None = None,
        max_wait_s: float = 5.0,
        cache_secret: bytes | None = None,
    ) -> None:
        if cache_secret is not None and len(cache_secret) < MIN_CACHE_SECRET_BYTES:
            raise ConfigError(
                f"the gateway's cache secret has {len(cache_secret)} bytes; it needs at least "
                f"{MIN_CACHE_SECRET_BYTES}. Fix: pass proctor.policy.load_signing_key(), or "
                "leave it out for a random one"
            )
        # A key for this purpose only: the signing key also signs credentials, and a cache
        # key (which is stored) must never be a MAC that something else would accept.
        self._cache_secret = hmac.new(
            cache_secret or secrets.token_bytes(32), _CACHE_KEY_PURPOSE, hashlib.sha256
        ).digest()
        self.deployments = dict(deployments)
        self.routes = {name: list(chain) for name, chain in routes.items()}
        for name in self.deployments:
            self.routes.setdefault(name, [name])
        if default_route not in self.routes:
            raise ConfigError(f"default route {default_route!r} is not a route or a model")
        self.default_route = default_route
        self.router = router
        self.prices = prices or PriceTable()
        self.cache = cache
        self.cache_ttl_s = cache_ttl_s
        self.cache_sampled = cache_sampled
        self.limiter = limiter
        self.max_wait_s = max_wait_s
        self._cache_writes: set[asyncio.Task[None]] = set()
        self._route_prices: dict[str, list[Price] | None] = {}
        # Where a context-length error may fall back to, smallest window first.
        self._by_context_window = sorted(
            (d for d in self.deployments.values() if d.context_window),
            key=lambda d: d.context_window or 0,
        )

    @classmethod
    def single(cls, client: ModelClient, *, price: Price | None = None) -> Gateway:
        """A gateway over one client (a scripted model, or one endpoint), no cache."""
        deployment = Deployment(name=client.name, client=client, model=client.name, price=price)
        return cls(
            deployments={client.name: deployment},
            routes={},
            default_route=client.name,
            router=Router(RetryConfig(), CooldownConfig()),
        )

    @classmethod
    def from_config(
        cls,
        config: GatewayConfig,
        *,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
        clients: Mapping[str, ModelClient] | None = None,
        cache_secret: bytes | None = None,
    ) -> Gateway:
        """Build deployments (each provider's client unless given) from ``proctor.yaml``;
        ``cache_secret`` keys the cache's keys (see ``Gateway``)."""
        from proctor.gateway.providers.anthropic import AnthropicModel
        from proctor.gateway.providers.openai import OpenAIModel

        prices = config.price_table()
        deployments: dict[str, Deployment] = {}
        for name, model in config.models.items():
            client = (clients or {}).get(name)
            if client is None:
                if model.provider == "scripted":
                    raise ConfigError(
                        f"model {name!r} has provider {model.provider!r}, which needs a client "
                        "passed in code; use provider: openai or anthropic for an endpoint"
                    )
                endpoint = AnthropicModel if model.provider == "anthropic" else OpenAIModel
                client = endpoint(
                    model.model,
                    base_url=model.base_url,
                    api_key_env=model.api_key_env,
                    timeout_s=model.timeout_s,
                )
            price = None if model.price is None else model.price.to_price()
            deployments[name] = Deployment(
                name=name,
                client=client,
                model=model.model,
                context_window=model.context_window,
                price=price or prices.price(model.model),
                limits=RateLimits(rpm=model.rpm, tpm=model.tpm),
                timeout_s=model.timeout_s,
            )
        default = (
            config.default_route
            or next(iter(config.routes), None)
            or next(iter(config.models), None)
        )
        if default is None:
            raise ConfigError("proctor.yaml defines no models. Fix: add a models: section")
        return cls(
            deployments=deployments,
            routes=config.routes,
            default_route=default,
            router=Router(
                config.retry,
                config.cooldown,
                limiter=limiter,
                max_wait_s=config.rate_limits.max_wait_s,
            ),
            prices=prices,
            cache=cache,
            cache_ttl_s=config.cache.ttl_s,
            cache_sampled=config.cache.cache_sampled,
            limiter=limiter,
            max_wait_s=config.rate_limits.max_wait_s,
            cache_secret=cache_secret,
        )

    def chain(self, route: str | None = None) -> list[Deployment]:
        """The deployments a route tries, in order."""
        name = route or self.default_route
        if name not in self.routes:
            known = ", ".join(sorted(self.routes))
            raise ConfigError(f"no route or model named {name!r}. Fix: use one of {known}")
        return [self.deployments[d] for d in self.routes[name]]

    def price(self, deployment: Deployment) -> Price | None:
        return deployment.price or self.prices.price(deployment.model)

    def dearest_cost(
        self, route: str | None, input_tokens: int, output_tokens: int
    ) -> float | None:
        """The most a call of these tokens may cost on ``route``: at its dearest
        deployment's price (a fallback may answer). ``None`` if one has no price."""
        name = route or self.default_route
        if name not in self._route_prices:  # looked up once: prices do not change
            chain = [self.price(d) for d in self.chain(name)]
            known = [p for p in chain if p is not None]
            self._route_prices[name] = known if len(known) == len(chain) else None
        prices = self._route_prices[name]
        if prices is None:
            return None
        return max(p.cost_of(input_tokens, output_tokens) for p in prices)

    def projected_cost(
        self,
        route: str | None,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: CallSettings | None = None,
        prompt_tokens: int | None = None,
    ) -> float | None:
        """Cost of the call if the route's first deployment answers with ``max_tokens``."""
        from proctor.store import Usage

        first = self.chain(route)[0]
        price = self.price(first)
        if price is None:
            return None
        output = settings.max_tokens if settings and settings.max_tokens else 0
        if prompt_tokens is None:
            prompt_tokens = estimate_tokens(messages, tools)
        usage = Usage(input_tokens=prompt_tokens, output_tokens=output)
        return price.cost(usage)

    async def complete(self, request: ModelRequest) -> GatewayResult:
        """Answer ``request`` through its route; raise ``GatewayError`` (with events) on failure."""
        pre = await self._preflight(request)
        if pre.hit is not None:
            return pre.hit
        outcome = await self._route(request, pre, streaming=False)
        assert isinstance(outcome, RouteOutcome)  # only a streaming call opens streams
        return self.answered(outcome, pre.cache_key, pre.events, request.cache_if)

    async def stream(self, request: ModelRequest) -> GatewayStream:
        """Answer ``request`` as a stream; returns once its first chunk is in.

        Budget, cache, rate limits, retries, fallback and cooldown apply up to that chunk,
        as in ``complete`` (whose ``GatewayError`` it raises). A cache hit, or a deployment
        whose client cannot stream, answers whole, served as a stream. Price, cache write
        and usage settlement happen when the stream has ended well.
        """
        pre = await self._preflight(request)
        if pre.hit is not None:
            return GatewayStream.whole(pre.hit)
        opened = await self._route(request, pre, streaming=True)
        if isinstance(opened, RouteOutcome):
            return GatewayStream.whole(
                self.answered(opened, pre.cache_key, pre.events, request.cache_if)
            )

        def finish(outcome: RouteOutcome) -> GatewayResult:
            return self.answered(outcome, pre.cache_key, pre.events, request.cache_if)

        return GatewayStream(opened, events=pre.events, finish=finish, price=self.price)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """Embed ``request.inputs`` through its route: budget, the caller's rate limit,
        retries and cooldown, price. Falls back only to deployments of the same model
        (``_embed``); raises ``GatewayError`` (``bad_request`` if the route cannot embed)."""
        from proctor.gateway._embed import embed

        return await embed(self, request)

    async def _preflight(self, request: ModelRequest) -> Preflight:
        """Budget, cache and the caller's rate limit: the chain to call, or the cached answer."""
        chain = self.chain(request.route)
        tokens = request.prompt_tokens
        if tokens is None and (request.budget_usd is not None or self.limiter is not None):
            tokens = estimate_tokens(request.messages, request.tools)
        if request.budget_usd is not None:
            projected = self.projected_cost(
                request.route, request.messages, request.tools, request.settings, tokens
            )
            if projected is not None and projected > request.budget_usd:
                raise GatewayError(
                    f"refused before sending: the call would cost about ${projected:.6f} "
                    f"(estimated), more than the ${request.budget_usd:.6f} left in the budget",
                    kind="budget",
                )
        pre = Preflight(
            chain=chain, prompt_tokens=tokens, cache_key=self._cache_key(request, chain), events=[]
        )
        if pre.cache_key is not None and self.cache is not None:
            pre.hit = await self._cached(pre.cache_key, chain)
            if pre.hit is not None:
                return pre
        if self.limiter is not None and request.scope and request.limits:
            waited = await self.limiter.acquire(
                request.scope,
                request.limits,
                tokens=tokens or 0,
                max_wait_s=self.max_wait_s,
            )
            if waited > 0:
                pre.events.append(
                    RateLimited(
                        scope=request.scope, limit="key", waited_ms=waited * 1000, outcome="waited"
                    )
                )
        return pre

    async def _route(
        self, request: ModelRequest, pre: Preflight, *, streaming: bool
    ) -> RouteOutcome | RouteStream:
        """The route's answer (streamed: once its first chunk is in); a failure carries the
        pre-flight's events before the router's."""
        route = self.router.stream if streaming else self.router.call
        try:
            return await route(
                pre.chain,
                request.messages,
                request.tools,
                settings=request.settings,
                larger=self._by_context_window,
                prompt_tokens=pre.prompt_tokens,
            )
        except GatewayError as exc:
            exc.events = (*pre.events, *exc.events)
            raise

    def answered(
        self,
        outcome: RouteOutcome,
        cache_key: str | None,
        events: list[EventData],
        cache_if: Callable[[ModelResponse], bool] | None = None,
    ) -> GatewayResult:
        """Price the answer of ``outcome`` and write it to the cache (in the background)."""
        events.extend(outcome.events)
        price = self.price(outcome.deployment)
        cost = None if price is None else price.cost(outcome.response.usage)
        if cache_if is not None and not cache_if(outcome.response):
            cache_key = None
        if cache_key is not None and self.cache is not None:
            from proctor.gateway._cache import encode_response

            # Written after the answer is returned: the caller never waits for the cache.
            write = asyncio.create_task(
                self.cache.set(
                    cache_key,
                    encode_response(outcome.response, outcome.deployment.name),
                    self.cache_ttl_s,
                )
            )
            self._cache_writes.add(write)
            write.add_done_callback(self._cache_writes.discard)
        return GatewayResult(
            response=outcome.response,
            deployment=outcome.deployment.name,
            cost_usd=cost,
            events=tuple(events),
            upstream_ms=outcome.upstream_ms,
        )

    def _cache_key(self, request: ModelRequest, chain: Sequence[Deployment]) -> str | None:
        from proctor.gateway._cache import response_cache_key

        if self.cache is None or request.cache is False:
            return None
        sampled = request.settings is not None and (request.settings.temperature or 0) > 0
        if sampled and not (request.cache or self.cache_sampled):
            return None
        return response_cache_key(
            [d.name for d in chain],
            request.messages,
            request.tools,
            request.settings,
            secret=self._cache_secret,
        )

    def tool_cache_key(self, tool_name: str, arguments: dict[str, Any]) -> str:
        """The key of a tool's result in this gateway's cache (keyed like its responses)."""
        from proctor.gateway._cache import tool_cache_key

        return tool_cache_key(tool_name, arguments, secret=self._cache_secret)

    async def _cached(self, key: str, chain: Sequence[Deployment]) -> GatewayResult | None:
        from proctor.gateway._cache import decode_response

        assert self.cache is not None
        data = await self.cache.get(key)
        if data is None:
            return None
        try:
            response, deployment_name = decode_response(data)
        except ValueError as exc:  # corrupt or from an older version: a miss, never a failure
            logger.warning("ignoring an unreadable cache entry %s: %s", key, exc)
            return None
        deployment = self.deployments.get(deployment_name, chain[0])
        price = self.price(deployment)
        saved = None if price is None else price.cost(response.usage)
        hit = CacheHit(
            kind="response",
            name=deployment_name,
            key=key,
            cost_saved_usd=saved,
            tokens_saved=response.usage.total,
        )
        return GatewayResult(
            response=response,
            deployment=deployment_name,
            cost_usd=0.0,
            cache_hit=True,
            events=(hit,),
        )

    async def flush(self) -> None:
        """Wait for cache writes still in flight."""
        if self._cache_writes:
            await asyncio.gather(*self._cache_writes, return_exceptions=True)

    async def aclose(self) -> None:
        """Finish cache writes, then close clients that hold connections."""
        await self.flush()
        for deployment in self.deployments.values():
            close = getattr(deployment.client, "aclose", None)
            if close is not None:
                await close()
