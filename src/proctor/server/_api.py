"""The JSON API, ``/api/v1``: runs, events, approvals, reports, eval results, keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from proctor.server._app import current_principal
from proctor.server._keys import Principal

router = APIRouter()

Auth = Annotated[Principal, Depends(current_principal)]


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/v1/me", tags=["keys"])
async def me(principal: Auth) -> dict[str, str]:
    """The API key this request authenticates as: its id, holder, role and tenant."""
    return {
        "key_id": principal.key_id,
        "name": principal.name,
        "role": principal.role,
        "tenant": principal.tenant,
    }
