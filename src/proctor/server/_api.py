"""The JSON API, ``/api/v1``: runs, events, approvals, reports, eval results, keys.

Every endpoint authenticates (Bearer API key, or the web UI's session cookie) and sees
only its key's tenant: another tenant's run, approval or eval result is answered 404,
exactly like one that does not exist.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from proctor.server import (
    _api_approvals,
    _api_gateway,
    _api_keys,
    _api_reports,
    _api_runs,
    _api_stream,
    _api_turns,
)
from proctor.server._appstate import state_of
from proctor.store import check_store

router = APIRouter()
logger = logging.getLogger("proctor.server")


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (no key, no store)."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the store answers, at the schema version this Proctor knows; else 503.
    No key; the answer says why without saying where (the log says where)."""
    store = state_of(request).service.store
    found = await check_store(store)
    if not found.ready:
        logger.warning("not ready: %s", found.reason)
    return JSONResponse(found.as_json(), status_code=200 if found.ready else 503)


for _part in (
    _api_runs,
    _api_turns,
    _api_stream,
    _api_approvals,
    _api_reports,
    _api_keys,
    _api_gateway,
):
    router.include_router(_part.router)
