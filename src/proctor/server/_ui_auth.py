"""Signing in and out of the UI: an API key, pasted once, becomes a session cookie (single
sign-on, when configured, is ``_ui_sso``'s)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proctor.errors import AccessDenied
from proctor.server._appstate import state_of
from proctor.server._auth import SESSION_COOKIE, SESSION_SECONDS
from proctor.server._ui_base import local_path, render, secure, signed_in

router = APIRouter(include_in_schema=False)

_KEYS_OFF = (
    "This server signs people in with single sign-on only (sso.api_key_sign_in is false). "
    "API keys still work for programs, as 'Authorization: Bearer <key>'."
)
_CROSS_SITE = (
    "This form was not sent from this server's own page, so it was refused. "
    "Open the page again and resend it."
)


@router.get("/")
async def home() -> Response:
    return secure(RedirectResponse("/runs", status_code=303))


@router.get("/login")
async def login_form(request: Request) -> Response:
    target = local_path(request.query_params.get("next"))
    if await signed_in(request) is not None:
        return secure(RedirectResponse(target, status_code=303))
    notice = "Your session ended; sign in again." if request.query_params.get("ended") else ""
    return await _form(request, target, notice=notice)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    target = local_path(str(form.get("next") or ""))
    if not state_of(request).auth.same_origin(request):
        return await _form(request, target, error=_CROSS_SITE, status=403)
    sso = state_of(request).sso
    if sso is not None and not sso.config.api_key_sign_in:
        return await _form(request, target, error=_KEYS_OFF, status=403)
    key = str(form.get("key") or "").strip()
    if not key:
        return await _form(request, target, error="Paste an API key to sign in.", status=400)
    state = state_of(request)
    try:
        _, cookie = await state.auth.session_for(key)
    except AccessDenied as exc:
        return await _form(request, target, error=str(exc), status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,  # no script reads it, so a script injected anywhere cannot steal it
        secure=state.secure_cookies,
        samesite="strict",
    )
    return secure(response)


@router.post("/logout")
async def logout(request: Request) -> Response:
    state = state_of(request)
    if not state.auth.same_origin(request):
        context = {"status": 403, "message": _CROSS_SITE}
        return await render(request, await signed_in(request), "error.html", context, status=403)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        # Ended in the store, not only forgotten by this browser: a copy of the cookie
        # stops working too, in every server sharing the store.
        await state.auth.end_session(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        secure=state.secure_cookies,
        samesite="strict",
    )
    return secure(response)


async def _form(
    request: Request, target: str, *, error: str = "", notice: str = "", status: int = 200
) -> Response:
    sso = state_of(request).sso
    context = {
        "next": target,
        "error": error,
        "notice": notice,
        "sso_label": None if sso is None else sso.config.label,
        "api_keys": sso is None or sso.config.api_key_sign_in,
    }
    return await render(request, None, "login.html", context, status=status)
