"""A deployment (one model at one endpoint) and what a route call returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from proctor.gateway._prices import Price
from proctor.gateway._types import ModelClient, ModelResponse, RateLimits
from proctor.store import EventData


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """A configured model: its client, provider model name, context window, price, limits."""

    name: str
    client: ModelClient
    model: str
    context_window: int | None = None
    price: Price | None = None
    limits: RateLimits = field(default_factory=RateLimits)
    timeout_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class RouteOutcome:
    """The response of the deployment that answered, and every failed attempt before it."""

    response: ModelResponse
    deployment: Deployment
    events: tuple[EventData, ...] = ()
    upstream_ms: float = 0.0
    """Time spent awaiting deployments' clients, over every attempt."""
