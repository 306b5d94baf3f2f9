"""Scoped, short-lived credentials: a signed token per permitted call, checked by the tool.

For each permitted call of a tool whose contract declares scopes, the runtime asks a
``CredentialIssuer`` for a ``Credential``: an HS256 JWT (PyJWT) carrying the run, the
call, the tool, the allowed actions, resource patterns and numeric limits, and an expiry.
The tool checks it with one call, ``ctx.credential.require(action, resource=...,
amount=...)``; a system the tool calls can check the token itself with ``verify``.

Errors (both ``ProctorError``s)::

    CredentialDenied        the call asked for more than its credential grants
    └── InvalidCredential   the token is tampered with, expired, malformed, or was
                            issued for another run or tool (``problem`` says which)

The signing key comes from ``PROCTOR_SIGNING_KEY`` or, for the embedded default, from
``<proctor home>/signing.key``, created on first use with mode 0600.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt
import orjson

from proctor.errors import ConfigError, CredentialDenied
from proctor.store import load_signing_key
from proctor.store._keyfiles import KEY_ENV, MIN_KEY_BYTES

ISSUER = "proctor"
ALGORITHM = "HS256"
_REQUIRED = ["iss", "iat", "exp", "jti", "run_id", "call_id", "tool"]
# The one header every token has, encoded once (as PyJWT writes it: sorted keys).
_HEADER = base64.urlsafe_b64encode(orjson.dumps({"alg": ALGORITHM, "typ": "JWT"})).rstrip(b"=")


def _signed(claims: dict[str, Any], key: bytes) -> str:
    """``claims`` as an HS256 JSON Web Token. Written out rather than ``jwt.encode``: it is
    a quarter of the time (4 µs against 19) on a path every scoped tool call takes, and
    ``verify`` reads it back with PyJWT (the tests hold the two to each other)."""
    body = _HEADER + b"." + base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=")
    signature = hmac.digest(key, body, hashlib.sha256)
    return (body + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


_GENERATE = "python -c 'import secrets; print(secrets.token_hex(32))'"

Problem = Literal["tampered", "expired", "malformed", "foreign_run", "foreign_tool"]


class InvalidCredential(CredentialDenied):
    """A token that must not be honoured; ``problem`` says why."""

    def __init__(self, problem: Problem, message: str) -> None:
        self.problem: Problem = problem
        super().__init__(message)


@dataclass(frozen=True, kw_only=True, slots=True)
class Credential:
    """A verified credential: what one call of one tool may do, until ``expires_at``.

    Tools get it as ``ctx.credential`` and call ``require`` before acting. ``token`` is
    the signed JWT, for forwarding to a system that verifies it; it is never recorded.
    """

    run_id: str
    call_id: str
    tool: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    limits: Mapping[str, float]
    issued_at: float
    expires_at: float
    jti: str
    token: str = field(repr=False)

    def require(
        self,
        action: str,
        resource: str | None = None,
        amount: float | None = None,
        **quantities: float,
    ) -> None:
        """Return if the credential grants ``action`` (on ``resource``, up to the limits).

        ``amount`` is checked against ``max_amount``; any other ``name=value`` against
        ``max_<name>``. A quantity without a declared limit has no ceiling.

        Raises:
            CredentialDenied: the action, resource or a quantity is not granted, or the
                credential has expired. The message says what was asked and granted.
        """
        now = time.time()
        if now >= self.expires_at:
            raise InvalidCredential("expired", _expired(self.tool, self.jti, now - self.expires_at))
        scope = f"credentials.tools.{self.tool}"
        if action not in self.actions:
            raise CredentialDenied(
                f"{self.tool} asked for {action!r}, but its credential grants only "
                f"{_listing(self.actions)}. Fix: if this call should be allowed, add "
                f"{action!r} to {scope}.actions in the contract"
            )
        if resource is not None and not any(_matches(p, resource) for p in self.resources):
            raise CredentialDenied(
                f"{self.tool} asked for {action} on {resource!r}, but its credential covers "
                f"only {_listing(self.resources) if self.resources else 'no resources'}. Fix: "
                f"if this call should be allowed, add a pattern for it to {scope}.resources "
                "in the contract"
            )
        if amount is not None:
            quantities = {"amount": amount, **quantities}
        for name, value in quantities.items():
            ceiling = self.limits.get(f"max_{name}")
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise CredentialDenied(
                    f"{self.tool} asked for {action} with {name} {value!r}, which is not a "
                    f"finite number. Fix: pass the {name} as a number"
                )
            if ceiling is not None and value > ceiling:
                raise CredentialDenied(
                    f"{self.tool} asked for {action} with {name} {value:g}, over its "
                    f"credential's max_{name} of {ceiling:g}. Fix: if such calls should be "
                    f"allowed, raise {scope}.limits.max_{name} in the contract"
                )


class CredentialIssuer:
    """Signs and verifies credentials with one HMAC key (HS256)."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"the credential signing key has {len(key)} bytes; at least {MIN_KEY_BYTES} "
                f"are needed. Fix: generate one with {_GENERATE}"
            )
        self._key = key
        self._clock = clock

    def __repr__(self) -> str:
        return "CredentialIssuer(key=<hidden>)"

    @classmethod
    def from_environment(cls, home: Path | None = None) -> CredentialIssuer:
        """An issuer with the configured key (see ``load_signing_key``)."""
        return cls(load_signing_key(home))

    def issue(
        self,
        *,
        run_id: str,
        call_id: str,
        tool: str,
        actions: Iterable[str],
        resources: Iterable[str] = (),
        limits: Mapping[str, float] | None = None,
        ttl_seconds: float,
    ) -> Credential:
        """Sign a credential for one call; the result is what ``verify`` returns for it.

        The token is not decoded again here: it never leaves this process unless a tool
        forwards it, and whatever receives it checks it with ``verify``.
        """
        now = self._clock()
        claims = {
            "iss": ISSUER,
            "run_id": run_id,
            "call_id": call_id,
            "tool": tool,
            "actions": list(actions),
            "resources": list(resources),
            "limits": dict(limits or {}),
            "iat": int(now),
            "exp": int(now + ttl_seconds),
            "jti": secrets.token_urlsafe(12),
        }
        return _parse(claims, _signed(claims, self._key))

    def verify(self, token: str, *, run_id: str, tool: str, leeway_s: float = 0.0) -> Credential:
        """The credential in ``token``, if it is genuine, current, and for this run and tool.

        Raises:
            InvalidCredential: tampered with or signed with another key, expired,
                malformed, or issued for another run or tool.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Expiry is checked below against this issuer's clock.
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise InvalidCredential(
                "tampered",
                f"a credential for {tool} was rejected: its signature does not match, so the "
                "token was altered or signed with another key. Fix: pass on the token of "
                "ctx.credential unchanged; processes that verify each other's tokens need the "
                f"same {KEY_ENV}",
            ) from None
        except jwt.PyJWTError as exc:
            raise InvalidCredential(
                "malformed",
                f"a credential for {tool} was rejected: it is not a valid Proctor token ({exc})."
                " Fix: pass on the token of ctx.credential unchanged",
            ) from None
        credential = _parse(claims, token)
        if credential.run_id != run_id:
            raise InvalidCredential(
                "foreign_run",
                f"a credential issued for run {credential.run_id} was presented in run "
                f"{run_id}: a credential is valid only in the run and call it was issued for. "
                "Fix: use the credential of this call (ctx.credential)",
            )
        if credential.tool != tool:
            raise InvalidCredential(
                "foreign_tool",
                f"a credential issued for {credential.tool} was presented for {tool}: a "
                "credential is valid only for its own tool. Fix: use the credential of this "
                "call (ctx.credential)",
            )
        late = self._clock() - credential.expires_at
        if late >= leeway_s:
            raise InvalidCredential("expired", _expired(tool, credential.jti, late))
        return credential


def _parse(claims: dict[str, Any], token: str) -> Credential:
    try:
        limits = {str(k): float(v) for k, v in dict(claims.get("limits") or {}).items()}
        return Credential(
            run_id=str(claims["run_id"]),
            call_id=str(claims["call_id"]),
            tool=str(claims["tool"]),
            actions=tuple(str(a) for a in claims.get("actions") or ()),
            resources=tuple(str(r) for r in claims.get("resources") or ()),
            limits=limits,
            issued_at=float(claims["iat"]),
            expires_at=float(claims["exp"]),
            jti=str(claims["jti"]),
            token=token,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidCredential(
            "malformed", f"a credential's claims are malformed ({exc})"
        ) from None


def _expired(tool: str, jti: str, seconds_ago: float) -> str:
    return (
        f"the credential for {tool} (jti {jti}) expired {max(seconds_ago, 0.0):.0f} s ago. Fix: "
        f"check the credential before slow work, or raise credentials.ttl_seconds (or "
        f"credentials.tools.{tool}.ttl_seconds) in the contract"
    )


def _listing(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values) or "nothing"


def _matches(pattern: str, resource: str) -> bool:
    """``*`` matches any text; ``\\x`` matches ``x`` literally; all else is literal."""
    if "*" not in pattern and "\\" not in pattern:
        return pattern == resource
    return _compiled(pattern).fullmatch(resource) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "*":
            out.append(".*")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)
