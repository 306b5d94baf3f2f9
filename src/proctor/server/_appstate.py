"""What every route reaches through ``request.app.state.proctor``: the service, the
authenticator, the cookie setting, single sign-on; and the request's principal."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from proctor.gateway import NotificationsConfig
from proctor.server._auth import Authenticator
from proctor.server._guard import PRINCIPAL
from proctor.server._keys import Principal
from proctor.server._service import Service
from proctor.server._sso import OidcClient


@dataclass
class ServerState:
    """What every route reaches through ``request.app.state.proctor``."""

    service: Service
    auth: Authenticator
    secure_cookies: bool
    notifications: NotificationsConfig
    """``proctor.yaml``'s ``notifications:`` (channels, and who may decide from Slack)."""
    sso: OidcClient | None = None
    """Single sign-on with an OpenID Connect provider, when proctor.yaml's ``sso:`` says so."""


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.proctor
    return state


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the principal of a request's Bearer key or session cookie,
    authenticated by the ``RequestGuard`` before the body was read."""
    principal: Principal | None = getattr(request.state, PRINCIPAL, None)
    if principal is None:  # pragma: no cover - every /api/ request passes the guard
        principal = await state_of(request).auth.principal(request)
    return principal
