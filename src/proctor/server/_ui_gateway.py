"""The gateway page: the endpoint's spend by key, route, model or day, over a window."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proctor.errors import UsageError
from proctor.server._api_gateway import usage_for
from proctor.server._appstate import state_of
from proctor.server._keys import Principal
from proctor.server._ui_base import guarded, render
from proctor.server._ui_reports import WINDOWS
from proctor.store import USAGE_DIMENSIONS

router = APIRouter(include_in_schema=False)


@router.get("/gateway")
async def gateway_page(request: Request) -> Response:
    return await guarded(request, lambda principal: _gateway(request, principal))


async def _gateway(request: Request, principal: Principal) -> Response:
    params = request.query_params
    window = params.get("since", "7d")
    group_by = params.get("by", "key")
    if window not in WINDOWS:
        raise UsageError(f"unknown period {window!r}: use 24h, 7d or 30d")
    if group_by not in USAGE_DIMENSIONS:
        raise UsageError(f"unknown grouping {group_by!r}: use {', '.join(USAGE_DIMENSIONS)}")
    since = time.time() - WINDOWS[window][1]
    store = state_of(request).service.store
    rows = await usage_for(store, principal, [group_by], since=since)
    names = {"key": "key_name", "route": "route", "model": "model", "day": "day"}
    context: dict[str, Any] = {
        "rows": rows,
        "label": names[group_by],
        "window": window,
        "windows": [(key, label) for key, (label, _) in WINDOWS.items()],
        "group_by": group_by,
        "groupings": USAGE_DIMENSIONS,
        "since": since,
        "calls": sum(row.calls for row in rows),
        "cost": sum(row.cost_usd for row in rows),
        "unpriced": sum(row.unpriced for row in rows),
    }
    return await render(request, principal, "gateway.html", context, nav="gateway")
