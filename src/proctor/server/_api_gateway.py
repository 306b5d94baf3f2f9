"""``GET /api/v1/gateway/usage``: the gateway endpoint's spend, from its call ledger.

The ledger belongs to the installation, not to a tenant: its API keys are those of
``proctor.yaml``, which no tenant owns. So only keys of the ``default`` tenant (the one
``proctor serve`` creates its first admin key in) with the ``read`` permission see it;
any other tenant's key is refused with a 403 that says so.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from proctor.errors import AccessDenied
from proctor.server._api_deps import Auth, Svc, errors, text_query
from proctor.server._api_query import parse_time
from proctor.server._keys import Principal
from proctor.store import GatewayUsage, Store, UsageDimension, check_usage_dimensions, iso_time

router = APIRouter(prefix="/api/v1")

GATEWAY_TENANT = "default"
"""The tenant whose keys may read the gateway's ledger."""


async def usage_for(
    store: Store,
    principal: Principal,
    by: list[str],
    *,
    since: float,
    key_name: str | None = None,
) -> list[GatewayUsage]:
    """The ledger's spend since ``since``, by ``by``, for a principal allowed to see it."""
    principal.require("read")
    if principal.tenant != GATEWAY_TENANT:
        raise AccessDenied(
            f"the gateway's call ledger belongs to the installation, not to tenant "
            f"{principal.tenant!r}. Use a key of tenant {GATEWAY_TENANT!r}",
            status=403,
        )
    dimensions: tuple[UsageDimension, ...] = check_usage_dimensions(by or ["key"])
    return await store.gateway_usage(dimensions, since=since, key_name=key_name)


class UsageRowOut(BaseModel):
    """One group's calls and spend; a dimension not grouped by is ``null``."""

    key: str | None
    route: str | None
    model: str | None
    """``""``: calls no model answered."""
    day: str | None
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    """Of the input tokens, those read from the providers' prompt caches."""
    reasoning_tokens: int
    """Of the output tokens, those spent reasoning."""
    cost_usd: float
    unpriced: int
    cache_hits: int


class UsageOut(BaseModel):
    since: str
    by: list[str]
    rows: list[UsageRowOut]


@router.get("/gateway/usage", tags=["gateway"], responses=errors())
async def gateway_usage(
    principal: Auth,
    service: Svc,
    since: Annotated[
        str, text_query("Calls at or after: an age (7d, 24h), ISO 8601 or epoch.")
    ] = "30d",
    by: Annotated[
        list[UsageDimension] | None,
        Query(description="Rows per key, route, model or day (repeat for several)."),
    ] = None,
    key: Annotated[str | None, text_query("Only this gateway API key (its name).")] = None,
) -> UsageOut:
    """Calls, tokens and cost of the gateway endpoint (``proctor gateway serve``), from
    its call ledger. Keys of the ``default`` tenant only."""
    start = parse_time("since", since, now=time.time())
    dimensions = list(by or ["key"])
    rows = await usage_for(service.store, principal, dimensions, since=start, key_name=key)
    return UsageOut(
        since=iso_time(start),
        by=list(check_usage_dimensions(dimensions)),
        rows=[
            UsageRowOut(
                key=row.key_name,
                route=row.route,
                model=row.model,
                day=row.day,
                calls=row.calls,
                errors=row.errors,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cached_input_tokens=row.cached_input_tokens,
                reasoning_tokens=row.reasoning_tokens,
                cost_usd=row.cost_usd,
                unpriced=row.unpriced,
                cache_hits=row.cache_hits,
            )
            for row in rows
        ],
    )
