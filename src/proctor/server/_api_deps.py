"""What every API route depends on: the caller's principal, the service, error docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from proctor.server._appstate import current_principal, state_of
from proctor.server._keys import Principal
from proctor.server._schemas import ErrorBody
from proctor.server._service import Service


def service(request: Request) -> Service:
    """FastAPI dependency: the server's service."""
    return state_of(request).service


Auth = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Service, Depends(service)]

ID_MAX = 200
"""Longest id a path may name: ids are short (run_ and 16 hex digits), and one that is
not is answered 400 before the store is asked, with no megabyte echoed in a 404."""
TEXT_MAX = 500
"""Longest filter value (a workflow, model, suite, version, time or cursor)."""
MAX_SEQ = 2**63 - 1
"""Largest event seq a client may name: the store's integers are 64-bit."""

PLAIN = r"^[^\x00-\x1f\x7f]*$"
"""No control characters: no id or filter has one (the RequestGuard refuses them too)."""


def _id(description: str) -> Any:
    return Path(max_length=ID_MAX, pattern=PLAIN, description=description)


RunId = Annotated[str, _id("The run's id.")]
ApprovalId = Annotated[str, _id("The approval's id.")]
ResultId = Annotated[str, _id("The eval result's id.")]
KeyId = Annotated[str, _id("The key's id (key_...).")]


def text_query(description: str) -> Any:
    """A string query parameter: bounded (``TEXT_MAX``), without control characters."""
    return Query(max_length=TEXT_MAX, pattern=PLAIN, description=description)


ERRORS: dict[int, str] = {
    400: "A value cannot be used, or fails its declared type or range (invalid_request, "
    "bad_request); a Host this server does not answer to (host_not_allowed).",
    401: "No valid API key or session (unauthenticated).",
    403: "The key's role or separation of duties does not allow this, or a session cookie "
    "came from another site (forbidden).",
    404: "No such resource in the key's tenant (not_found).",
    405: "The path exists, not with this method (method_not_allowed).",
    409: "Not in a state that allows this: an approval decided already, the tenant's last "
    "admin key (invalid_state); another writer extended the run first (conflict).",
    413: "The request body is larger than the server accepts (request_too_large).",
    422: "The project's config or a contract is invalid (invalid_config).",
}
"""What each error status means, as the OpenAPI document describes it."""

ANY_REQUEST = (400, 401, 405, 413)
"""Statuses any request may get, before its route is reached (the RequestGuard's)."""


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses and those of ``ANY_REQUEST``, each
    with the error body's schema."""
    return {
        status: {"model": ErrorBody, "description": ERRORS[status]}
        for status in sorted({*ANY_REQUEST, *statuses})
    }
