"""Who a request is: a Bearer API key (the API), or a signed session cookie (the web UI).

Signing in to the UI exchanges an API key for a session: an HTTP-only, Secure, SameSite
cookie holding a short-lived JWT that names the key by its digest and carries the
session's own secret. The store keeps the session by the digest of that secret, so
signing out ends it for every copy of the cookie and every server process sharing the
store; revoking the key ends its sessions too (each request looks both up). A person
signed in with single sign-on gets the same cookie; their session names them (issuer,
subject, name, role, tenant) instead of a key, and stops working if the server no longer
trusts that issuer.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import jwt
from starlette.requests import Request

from proctor.errors import AccessDenied, ProctorError
from proctor.runtime import pseudonym_key
from proctor.server._hosts import AllowedHosts
from proctor.server._keys import KeyLookup, Principal, check_tenant, key_digest
from proctor.store import SessionRecord, load_signing_key

logger = logging.getLogger("proctor.server")

SESSION_COOKIE = "proctor_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 12 * 3600


class Authenticator:
    """Turns a request into a ``Principal``, or refuses it (401, or 403 for a cookie
    sent from another site)."""

    def __init__(
        self, keys: KeyLookup, session_secret: str, *, hosts: AllowedHosts | None = None
    ) -> None:
        self.keys = keys
        self.hosts = hosts or AllowedHosts.default()
        self.sso_issuer: str | None = None
        """The provider single sign-on sessions may come from (``None``: none)."""
        self._secret = session_secret
        self._pseudonyms: bytes | None = None
        # Session digest -> (when looked up, the session): as keys, remembered for the
        # key lookup's TTL, so a session ended by another process stops within it.
        self._sessions: dict[str, tuple[float, SessionRecord | None]] = {}

    def same_origin(self, request: Request) -> bool:
        """Whether a request comes from one of this server's own pages (CSRF defence, on
        top of the SameSite=Strict cookie): its Origin, else its Referer, names the host
        it was sent to, and that host is one this server answers to."""
        host = request.headers.get("host")
        source = request.headers.get("origin") or request.headers.get("referer")
        if not host or not source or source == "null" or not self.hosts.allows(host):
            return False
        try:
            netloc = urlsplit(source).netloc
        except ValueError:
            return False
        return netloc.lower() == host.lower()

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
            if request.method not in _SAFE_METHODS and not self.same_origin(request):
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
        claims = self._claims(cookie)
        sid = claims.get("sid")
        if not isinstance(sid, str):
            raise AccessDenied("your session is not valid here; sign in again")
        session = await self._session(key_digest(sid))
        if session is None or session.ended_at is not None or session.expires_at <= time.time():
            raise AccessDenied("your session ended; sign in again")
        if not session.key_id:  # a person signed in with single sign-on
            if session.issuer != self.sso_issuer or not session.role or not session.tenant:
                raise AccessDenied(
                    "this server no longer signs people in with that identity provider; "
                    "sign in again"
                )
            return replace(Principal.of_session(session), names_key=self._names_key())
        record = await self.keys.by_digest(str(claims.get("sub", "")))
        if record is None or record.key_id != session.key_id or record.revoked_at is not None:
            raise AccessDenied("the API key of this session was revoked; sign in with another")
        return replace(Principal.of(record), names_key=self._names_key())

    def _names_key(self) -> bytes | None:
        """The store's key of name pseudonyms (read once), so pages know a run recorded
        as ``[email:sha256:…]`` as the signed-in person's; ``None`` if it cannot be read."""
        if self._pseudonyms is None:
            try:
                self._pseudonyms = pseudonym_key(load_signing_key())
            except ProctorError as exc:
                logger.warning("pages compare who started a run by name only: %s", exc)
                self._pseudonyms = b""
        return self._pseudonyms or None

    async def session_for(self, token: str) -> tuple[Principal, str]:
        """Check an API key, start a session for it, and issue its cookie value."""
        principal = await self.keys.principal(token.strip())
        sid = secrets.token_urlsafe(32)
        now = time.time()
        await self.keys.store.save_session(
            SessionRecord(
                session_id=key_digest(sid),
                key_id=principal.key_id,
                created_at=now,
                expires_at=now + SESSION_SECONDS,
            )
        )
        claims = {
            "sub": key_digest(token.strip()),
            "sid": sid,
            "iat": int(now),
            "exp": int(now) + SESSION_SECONDS,
        }
        return principal, jwt.encode(claims, self._secret, algorithm="HS256")

    async def session_for_person(
        self, *, issuer: str, subject: str, name: str, role: str, tenant: str, seconds: float
    ) -> tuple[Principal, str]:
        """Start a session for a person the identity provider vouched for (single sign-on),
        lasting ``seconds``, and issue its cookie value."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        session = SessionRecord(
            session_id=key_digest(sid),
            key_id="",
            created_at=now,
            expires_at=now + seconds,
            issuer=issuer,
            subject=subject,
            name=name,
            role=role,
            tenant=check_tenant(tenant),
        )
        await self.keys.store.save_session(session)
        claims = {"sub": "", "sid": sid, "iat": int(now), "exp": int(now + seconds)}
        cookie = jwt.encode(claims, self._secret, algorithm="HS256")
        return Principal.of_session(session), cookie

    async def end_session(self, cookie: str) -> None:
        """Sign out: the session the cookie names stops working, wherever it is sent from.
        A cookie that names no live session (forged, expired, ended) changes nothing."""
        try:
            claims = self._claims(cookie)
        except AccessDenied:
            return
        sid = claims.get("sid")
        if isinstance(sid, str):
            digest = key_digest(sid)
            await self.keys.store.end_session(digest, time.time())
            self._sessions.pop(digest, None)

    def _claims(self, cookie: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(cookie, self._secret, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            raise AccessDenied("your session expired; sign in again") from None
        except jwt.PyJWTError:
            raise AccessDenied("your session is not valid here; sign in again") from None
        return claims

    async def _session(self, digest: str) -> SessionRecord | None:
        now = time.monotonic()
        seen = self._sessions.get(digest)
        if seen is not None and now - seen[0] < self.keys.ttl:
            return seen[1]
        session = await self.keys.store.get_session(digest)
        if len(self._sessions) > 10_000:  # many sign-ins over a long life must not grow it
            self._sessions.clear()
        self._sessions[digest] = (now, session)
        return session
