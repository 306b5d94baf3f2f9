"""The JSON API, ``/api/v1``: runs, events, approvals, reports, eval results, keys.

Every endpoint authenticates (Bearer API key, or the web UI's session cookie) and sees
only its key's tenant: another tenant's run, approval or eval result is answered 404,
exactly like one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter

from proctor.server import (
    _api_approvals,
    _api_gateway,
    _api_keys,
    _api_reports,
    _api_runs,
    _api_stream,
    _api_turns,
)

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


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
