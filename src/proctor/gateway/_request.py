"""What a gateway call asks for (``ModelRequest``) and what it gets (``GatewayResult``),
and what ``Gateway.complete`` and ``Gateway.stream`` settle before calling anyone
(``Preflight``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from proctor.gateway._deployment import Deployment
from proctor.gateway._types import (
    CallSettings,
    Message,
    ModelResponse,
    RateLimits,
    ToolSpec,
)
from proctor.store import EventData


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """One completion request to a route (``None``: the gateway's default route).

    ``cache`` ``False`` bypasses the response cache; ``True`` uses it even when sampling.
    ``budget_usd`` is what the caller may still spend: a call whose projected cost exceeds
    it is refused before it is sent. ``scope``/``limits`` rate-limit the caller (an API key).
    """

    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    route: str | None = None
    settings: CallSettings | None = None
    cache: bool | None = None
    budget_usd: float | None = None
    scope: str | None = None
    limits: RateLimits | None = None
    prompt_tokens: int | None = None
    """The caller's running estimate of the prompt's size, if it keeps one (saves a pass)."""
    cache_if: Callable[[ModelResponse], bool] | None = None
    """Write the answer to the response cache only if this holds (e.g. a run's redaction
    would change nothing in it: the cache must not keep what the run's log may not)."""


@dataclass(frozen=True, kw_only=True)
class GatewayResult:
    """The answer, who gave it, what it cost, and what happened on the way."""

    response: ModelResponse
    deployment: str
    cost_usd: float | None
    cache_hit: bool = False
    events: tuple[EventData, ...] = ()
    upstream_ms: float = 0.0
    """Time spent awaiting the deployments' clients (the rest is the gateway's own)."""


@dataclass(slots=True, kw_only=True)
class Preflight:
    """A request past its budget, cache and rate-limit checks: the route's deployments,
    the prompt's estimated size, its cache key, the events so far, or the cached answer."""

    chain: list[Deployment]
    prompt_tokens: int | None
    cache_key: str | None
    events: list[EventData]
    hit: GatewayResult | None = None
