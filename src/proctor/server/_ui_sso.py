"""Signing in to the UI with single sign-on (``sso:`` in proctor.yaml; see ``_sso``)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proctor.server._appstate import ServerState, state_of
from proctor.server._auth import SESSION_COOKIE
from proctor.server._sso import FLOW_COOKIE, FLOW_SECONDS, OidcClient, Person, SignInRefused
from proctor.server._ui_base import local_path, render, secure

router = APIRouter(include_in_schema=False)

CALLBACK_PATH = "/login/sso/callback"
_FLOW_PATH = "/login/sso"  # the flow cookie goes to the start and the callback only


@router.get("/login/sso")
async def start(request: Request) -> Response:
    """Send the browser to the identity provider, remembering the flow in a cookie."""
    state = state_of(request)
    sso = state.sso
    if sso is None:
        return await _refused(request, 404, "This server has no single sign-on configured.")
    target = local_path(request.query_params.get("next"))
    flow = sso.new_flow(target, request.query_params.get("tenant", "")[:64])
    try:
        url = await sso.authorization_url(flow, _redirect_uri(request, sso))
    except SignInRefused as exc:
        return await _refused(request, exc.status, str(exc))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        sso.flow_cookie(flow),
        max_age=FLOW_SECONDS,
        path=_FLOW_PATH,
        httponly=True,
        secure=state.secure_cookies,
        # Lax, not Strict: the provider's redirect back is a navigation from its site,
        # and Strict would withhold the cookie from exactly that request.
        samesite="lax",
    )
    return secure(response)


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    """The provider's answer: check it belongs to this browser's flow, verify the ID
    token, map the person's claims, and start their session."""
    state = state_of(request)
    sso = state.sso
    if sso is None:
        return await _refused(request, 404, "This server has no single sign-on configured.")
    params = request.query_params
    try:
        flow = sso.read_flow(request.cookies.get(FLOW_COOKIE), params.get("state", ""))
        if params.get("iss", sso.config.issuer) != sso.config.issuer:  # RFC 9207: mix-up
            raise SignInRefused(
                f"the answer comes from {params['iss']!r}, not from the configured identity "
                "provider: refused"
            )
        if "error" in params:
            detail = params.get("error_description") or params["error"]
            raise SignInRefused(f"the identity provider did not sign you in: {detail[:300]}")
        code = params.get("code", "")
        if not code:
            raise SignInRefused("the identity provider's answer has no code: start again")
        person = await sso.finish(code, flow, _redirect_uri(request, sso))
    except SignInRefused as exc:
        return _forget_flow(await _refused(request, exc.status, str(exc)), state)
    if not person.roles:
        return _forget_flow(await _no_role(request, sso, person), state)
    if not person.tenants:
        message = (
            f"You signed in as {person.name}, but your account names no tenant this server "
            f"knows (claim {sso.config.tenants.claim!r}). Ask your identity provider's admin "
            "to add you to one; an admin of Proctor maps them under sso.tenants in proctor.yaml."
        )
        return _forget_flow(await _refused(request, 403, message), state)
    tenant = flow.tenant if flow.tenant in person.tenants else ""
    if not tenant and len(person.tenants) == 1:
        tenant = person.tenants[0]
    if not tenant:
        return _forget_flow(await _choose_tenant(request, person, flow.next), state)
    _, cookie = await state.auth.session_for_person(
        issuer=person.issuer,
        subject=person.subject,
        name=person.name,
        role=person.role,
        tenant=tenant,
        seconds=sso.config.session_hours * 3600,
    )
    target = local_path(flow.next)
    # A page that moves on by itself, not a redirect: a redirect chain that began on the
    # provider's site is cross-site, so the SameSite=Strict session cookie would not be
    # sent with it, and the first page would ask to sign in again.
    response = await render(request, None, "signed_in.html", {"target": target})
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(sso.config.session_hours * 3600),
        path="/",
        httponly=True,
        secure=state.secure_cookies,
        samesite="strict",
    )
    return _forget_flow(response, state)


def _redirect_uri(request: Request, sso: OidcClient) -> str:
    configured = sso.config.redirect_url
    return configured if configured else str(request.base_url).rstrip("/") + CALLBACK_PATH


def _forget_flow(response: Response, state: ServerState) -> Response:
    response.delete_cookie(
        FLOW_COOKIE, path=_FLOW_PATH, httponly=True, secure=state.secure_cookies, samesite="lax"
    )
    return response


async def _refused(request: Request, status: int, message: str) -> Response:
    context = {"message": message, "status": status, "people": None, "tenants": None}
    return await render(request, None, "sso.html", context, status=status)


async def _no_role(request: Request, sso: OidcClient, person: Person) -> Response:
    config = sso.config.roles
    had = ", ".join(person.groups[:20]) or "none"
    mapped = ", ".join(f"{value} → {role}" for value, role in config.map.items()) or (
        "claim values that name a role: viewer, operator, approver, admin"
    )
    message = (
        f"You signed in as {person.name}, but nothing in your account gives you a role in "
        f"Proctor, so you cannot use it. Your {config.claim!r} claim holds: {had}. Roles "
        f"come from: {mapped}. Ask your identity provider's admin to add you to one of "
        "those groups."
    )
    return await _refused(request, 403, message)


async def _choose_tenant(request: Request, person: Person, target: str) -> Response:
    links = [
        (tenant, "/login/sso?" + urlencode({"tenant": tenant, "next": target}))
        for tenant in person.tenants
    ]
    context = {
        "message": f"You ({person.name}) may act in several tenants: choose one.",
        "status": 200,
        "people": person.name,
        "tenants": links,
    }
    return await render(request, None, "sso.html", context)
