"""What every API route depends on: the caller's principal, the service, error docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from proctor.server._app import current_principal, state_of
from proctor.server._keys import Principal
from proctor.server._schemas import ErrorBody
from proctor.server._service import Service


def service(request: Request) -> Service:
    """FastAPI dependency: the server's service."""
    return state_of(request).service


Auth = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Service, Depends(service)]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (and 401, which any route may answer)."""
    described = {
        400: "A parameter's value cannot be used (bad_request).",
        401: "No valid API key (unauthenticated).",
        403: "The key's role does not allow this (forbidden).",
        404: "No such resource in the key's tenant (not_found).",
        409: "The resource is not in a state that allows this (invalid_state).",
        422: "A parameter or body field fails its declared type or range (invalid_request).",
    }
    return {
        status: {"model": ErrorBody, "description": described[status]}
        for status in sorted({401, 422, *statuses})
    }
