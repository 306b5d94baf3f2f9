"""``build_gateway``: the project's gateway from ``proctor.yaml``, the one way every
command, worker and server builds it."""

from __future__ import annotations

from collections.abc import Mapping

from proctor.gateway._cache import open_cache
from proctor.gateway._config import GatewayConfig
from proctor.gateway._gateway import Gateway
from proctor.gateway._ratelimit import open_limiter
from proctor.gateway._types import ModelClient
from proctor.store import Store


def build_gateway(
    config: GatewayConfig,
    store: Store | None,
    *,
    clients: Mapping[str, ModelClient] | None = None,
    cache_secret: bytes | None = None,
) -> Gateway:
    """The gateway ``config`` describes: its models, routes, prices, retries and cooldown,
    with its response cache (``cache.backend``: on ``store``, in memory without one, Redis,
    or none) and its rate limiter (in process or Redis).

    ``clients`` replaces the client of the models it names (by default an
    ``OpenAIModel`` each). ``cache_secret`` keys the cache's keys: processes share cached
    answers only if they pass the same one (``proctor.policy.load_signing_key()``); without
    it, a random one. Raises ``ConfigError`` for a config that cannot work.
    """
    return Gateway.from_config(
        config,
        cache=open_cache(config.cache, store),
        limiter=open_limiter(config.rate_limits),
        clients=clients,
        cache_secret=cache_secret,
    )
