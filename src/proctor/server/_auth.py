"""Who a request is: a Bearer API key (the API), or a signed session cookie (the web UI).

Signing in to the UI exchanges an API key for a session: an HTTP-only, Secure, SameSite
cookie holding a short-lived JWT that names the key by its digest. The key itself never
sits in the browser, and revoking the key ends its sessions (each request looks it up).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt
from starlette.requests import Request

from proctor.errors import AccessDenied
from proctor.server._keys import KeyLookup, Principal, key_digest

SESSION_COOKIE = "proctor_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 12 * 3600


def same_origin(request: Request) -> bool:
    """Whether a request comes from one of this server's own pages (CSRF defence, on top
    of the SameSite=Strict cookie): its Origin, else its Referer, names our host."""
    host = request.headers.get("host")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not host or not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == host.lower()


class Authenticator:
    """Turns a request into a ``Principal``, or refuses it (401)."""

    def __init__(self, keys: KeyLookup, session_secret: str) -> None:
        self.keys = keys
        self._secret = session_secret

    async def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AccessDenied(
                    "the Authorization header must be 'Bearer <API key>'. "
                    "Create a key with: proctor keys create --role viewer --tenant TENANT"
                )
            return await self.keys.principal(token.strip())
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None:
            if request.method not in _SAFE_METHODS and not same_origin(request):
                raise AccessDenied(
                    "a session cookie changes nothing unless the request comes from this "
                    "server's own pages. Call the API with 'Authorization: Bearer <key>'",
                    status=403,
                )
            return await self.from_session(cookie)
        raise AccessDenied(
            "this request needs an API key: send 'Authorization: Bearer <key>'. "
            "Create one with: proctor keys create --role viewer --tenant TENANT"
        )

    async def from_session(self, cookie: str) -> Principal:
        try:
            claims: dict[str, Any] = jwt.decode(cookie, self._secret, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            raise AccessDenied("your session expired; sign in again") from None
        except jwt.PyJWTError:
            raise AccessDenied("your session is not valid here; sign in again") from None
        record = await self.keys.by_digest(str(claims.get("sub", "")))
        if record is None or record.revoked_at is not None:
            raise AccessDenied("the API key of this session was revoked; sign in with another")
        return Principal.of(record)

    async def session_for(self, token: str) -> tuple[Principal, str]:
        """Check an API key and issue a session cookie value for it."""
        principal = await self.keys.principal(token.strip())
        now = int(time.time())
        claims = {"sub": key_digest(token.strip()), "iat": now, "exp": now + SESSION_SECONDS}
        return principal, jwt.encode(claims, self._secret, algorithm="HS256")
