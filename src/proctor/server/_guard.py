"""What every request passes before a route sees it, in this order: its ``Host`` is one
the server answers to, its URL holds no control character, an API request is
authenticated, and its body is within a cap: as declared, then counted as it streams.

Authentication comes before the body: FastAPI reads and parses a body before it solves
a route's dependencies, so a key checked there would let any peer make the server read,
hold and parse whatever it sends. Here an API request without a valid key is refused
before one byte of its body is read, and the body of an authenticated one stops at
``max_body_bytes`` whatever its ``Content-Length`` says (or whether it sends one).
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.errors import ProctorError, UsageError
from proctor.server._auth import Authenticator
from proctor.server._errors import error_response, logger, status_and_code

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest API request body by default: a run's input is far smaller (as the gateway's)."""
FORM_BODY_BYTES = 64 * 1024
"""Largest body a request outside the API may send: the UI's forms (sign-in, decisions),
which anyone may post to the sign-in page, so it is the bound on unauthenticated bodies."""
PROBES = frozenset({"/healthz", "/readyz"})
"""Liveness and readiness: answered whatever the request's Host."""
PRINCIPAL = "principal"
"""Where in ``request.state`` the API request's principal is kept for the routes."""


class BodyTooLarge(HTTPException):
    """A request body past the cap: 413, and the connection is closed rather than read on."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than this server accepts ({limit:,} bytes). "
            "Fix: send a smaller body (a run's input is JSON, not files), or start the "
            "server with a larger proctor serve --max-body-bytes",
            headers={"Connection": "close"},
        )


class RequestGuard:
    """ASGI middleware: refuses what no route should read (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, auth: Authenticator, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.auth = auth
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # headers only: no receive, so it cannot read the body
        # The OTLP receiver (/v1/traces) is an API route: authenticated, with its limits.
        api = scope["path"].startswith("/api/") or scope["path"] == "/v1/traces"
        limit = self.max_body_bytes if api else min(self.max_body_bytes, FORM_BODY_BYTES)
        refusal = self._refusal(request)
        if refusal is None and api:
            refusal = await self._authenticate(request)
        if refusal is None:
            refusal = _oversized(request, limit)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # chunked, or a Content-Length that lied
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    def _refusal(self, request: Request) -> ASGIApp | None:
        """A 400 for a Host this server does not answer to, or a control character in
        the URL (no id or filter has one, and PostgreSQL's text refuses NUL)."""
        host = request.headers.get("host")
        # Probes say only "up" or "ready", and orchestrators send them to the container's
        # own address (a Kubernetes probe's Host is the pod's IP): any Host may ask.
        probe = request.method == "GET" and request.scope["path"] in PROBES
        if not probe and not self.auth.hosts.allows(host):
            shown = (host or "")[:100]
            return _refuse(
                request,
                400,
                "host_not_allowed",
                f"this server does not answer to the host {shown!r}. Fix: use its address "
                f"({', '.join(sorted(self.auth.hosts.names))}), or start it with "
                "proctor serve --allowed-host NAME for each name it is reached by",
            )
        url = request.scope["path"] + unquote_plus(request.scope["query_string"].decode("latin-1"))
        if any(ord(char) < 32 or ord(char) == 127 for char in url):
            return _refuse(
                request,
                400,
                "bad_request",
                "the URL holds a control character (such as NUL), which no id or filter "
                "has. Fix: send the id or value as it was given to you",
            )
        return None

    async def _authenticate(self, request: Request) -> ASGIApp | None:
        try:
            principal = await self.auth.principal(request)
        except (ProctorError, UsageError) as exc:
            status, code = status_and_code(exc)
            if status >= 500:  # the store failing, say: the operator must hear of it
                logger.error("authenticating %s failed: %s", request.url.path, exc)
            return _refuse(request, status, code, str(exc))
        request.scope.setdefault("state", {})[PRINCIPAL] = principal
        return None


def _oversized(request: Request, limit: int) -> ASGIApp | None:
    """A 413 for a body that says it is larger than ``limit``, before reading it."""
    declared = request.headers.get("content-length")
    if declared is None:
        return None  # chunked: counted as it streams
    if not declared.isdigit() or len(declared) > 18:
        return _refuse(request, 400, "bad_request", "Content-Length is not a byte count")
    if int(declared) > limit:
        return _refuse(request, 413, "request_too_large", str(BodyTooLarge(limit).detail))
    return None


def _refuse(request: Request, status: int, code: str, message: str) -> ASGIApp:
    response = error_response(status, code, message)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        # A body follows that nobody will read: end the connection instead of draining it.
        response.headers["Connection"] = "close"
    return response
