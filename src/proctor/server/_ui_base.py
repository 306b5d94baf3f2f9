"""What every UI page shares: templates, the session guard, CSRF checks, error pages.

Pages sign in with the session cookie only (never a Bearer header: a browser must not be
led to act with a key it was handed). A page without a valid session redirects to the
sign-in form; a failure renders as an HTML page with the error's message and status,
never a traceback or a JSON body.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from proctor.errors import AccessDenied, ProctorError, UsageError
from proctor.server._appstate import state_of
from proctor.server._auth import SESSION_COOKIE
from proctor.server._errors import status_and_code
from proctor.server._keys import Principal
from proctor.server._ui_format import FILTERS
from proctor.store import ApprovalRecord, CheckerDecided, RunFilter, row_to_event

logger = logging.getLogger("proctor.server")

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/static/ui"

# Scripts only from this server (no inline script can run, whatever a page shows);
# inline style attributes are allowed for the waterfall's bar positions.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _static_versions() -> dict[str, str]:
    # A digest in each asset's URL: a new release is never served a stale cached file.
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


_VERSIONS = _static_versions()


def static_url(name: str) -> str:
    return f"{STATIC_PATH}/{name}?v={_VERSIONS.get(name, '0')}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value a run, a model or a user wrote is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["static"] = static_url
    return env


templates = Jinja2Templates(env=_environment())


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def local_path(target: str | None, default: str = "/runs") -> str:
    """``target`` if it is a path on this server, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


async def signed_in(request: Request) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return await state_of(request).auth.from_session(cookie)
    except AccessDenied:
        return None


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":  # a form post cannot be replayed: return to its page
        referer = urlsplit(request.headers.get("referer", ""))
        target = local_path(referer.path + (f"?{referer.query}" if referer.query else ""))
    query = {"next": target}
    if request.cookies.get(SESSION_COOKIE):
        query["ended"] = "1"  # the cookie was there but no longer valid
    response = RedirectResponse(f"/login?{urlencode(query)}", status_code=303)
    return secure(response)


Handler = Callable[[Principal], Awaitable[Response]]


async def guarded(request: Request, handler: Handler, *, fragment: bool = False) -> Response:
    """Run a page's ``handler`` for the signed-in principal, rendering failures as pages.

    A ``fragment`` (fetched by the page's script) answers JSON errors instead.
    """
    principal = await signed_in(request)
    if principal is None:
        if fragment:
            return secure(JSONResponse({"error": "sign in again"}, status_code=401))
        return to_login(request)
    headers: Mapping[str, str] = {}
    try:
        return await handler(principal)
    except HTTPException as exc:  # a form past the body cap (413), say
        status, message, headers = exc.status_code, str(exc.detail), exc.headers or {}
    except (ProctorError, UsageError) as exc:
        status, _ = status_and_code(exc)
        message = str(exc)
        if status >= 500:
            logger.error("page %s failed: %s", request.url.path, exc)
    except Exception as exc:
        # Logged with its traceback for the operator; the browser gets no internals.
        logger.exception("page %s failed", request.url.path, exc_info=exc)
        status, message = 500, "This page failed to render; the server's log has the details."
    if fragment:
        return secure(JSONResponse({"error": message}, status_code=status, headers=headers))
    page = await render(
        request, principal, "error.html", {"status": status, "message": message}, status=status
    )
    page.headers.update(headers)
    return page


PENDING_SHOWN_CAP = 999
"""The nav counts pending approvals up to this, then shows ``999+``."""


async def pending_count(request: Request, principal: Principal) -> str:
    """The tenant's pending approvals, counted for the nav (``999+`` past the cap)."""
    store = state_of(request).service.store
    count = await store.count_approvals(
        "pending", tenant=principal.tenant, cap=PENDING_SHOWN_CAP + 1
    )
    return f"{PENDING_SHOWN_CAP}+" if count > PENDING_SHOWN_CAP else str(count)


async def checker_verdicts(
    request: Request, pending: list[ApprovalRecord]
) -> dict[str, CheckerDecided]:
    """What the checker model already said of each pending approval it looked at (a
    ``checker_then_human`` approval the checker approved waits for a person)."""
    store = state_of(request).service.store
    found: dict[str, CheckerDecided] = {}
    run_ids = tuple(dict.fromkeys(a.run_id for a in pending if a.approver != "human"))
    if not run_ids:
        return found
    # One query for the page's runs, not one per run (a round trip each on PostgreSQL).
    for row in await store.events_of_type("checker_decided", RunFilter(run_ids=run_ids)):
        data = row_to_event(row).data
        if isinstance(data, CheckerDecided):
            found[data.approval_id] = data
    return found


async def render(
    request: Request,
    principal: Principal | None,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    nav: str = "",
    pending: str | None = None,
) -> Response:
    """A full page: ``template`` in the layout, with the nav's pending-approvals count
    (``pending``, when the page has counted them already)."""
    count = pending or ("0" if principal is None else await pending_count(request, principal))
    response = templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "pending_count": count,
            "nav": nav,
            **context,
        },
        status_code=status,
    )
    return secure(response)
