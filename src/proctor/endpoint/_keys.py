"""API keys of the endpoint: who is calling, what they may use, and the exposure rule.

A key is compared by the SHA-256 of what the client presents, against every configured
key with ``hmac.compare_digest``: the time taken says nothing about how close a guess was
or which key matched. Keys named by ``key_env`` are read once, at start.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proctor.errors import ConfigError
from proctor.gateway import KeyConfig, RateLimits

ANONYMOUS = "anonymous"
"""The key name recorded for calls to an endpoint without keys (loopback only)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKey:
    """An authenticated caller: its name, limits, budget and allowed routes."""

    name: str
    scope: str
    limits: RateLimits | None = None
    budget_usd: float | None = None
    period: str = "day"
    routes: frozenset[str] | None = None
    """``None``: every route."""

    def may_use(self, route: str) -> bool:
        return self.routes is None or route in self.routes


class KeyRing:
    """The configured keys; ``authenticate`` turns an ``Authorization`` header into one."""

    def __init__(self, keys: Sequence[KeyConfig], environ: Mapping[str, str] = os.environ) -> None:
        self._keys: list[tuple[bytes, ApiKey]] = []
        for config in keys:
            if config.key_env is not None:
                secret = environ.get(config.key_env)
                if not secret:
                    raise ConfigError(
                        f"keys: key {config.name!r} names key_env {config.key_env}, which is not "
                        f"set. Fix: export {config.key_env}=<the key>, or give key_sha256"
                    )
                expected = hashlib.sha256(secret.encode()).hexdigest()
            else:
                expected = (config.key_sha256 or "").strip().lower()
            limited = config.rpm is not None or config.tpm is not None
            key = ApiKey(
                name=config.name,
                scope=f"key:{config.name}",
                limits=RateLimits(rpm=config.rpm, tpm=config.tpm) if limited else None,
                budget_usd=config.budget_usd,
                period=config.period,
                routes=None if config.routes is None else frozenset(config.routes),
            )
            self._keys.append((expected.encode(), key))
        self.anonymous = ApiKey(name=ANONYMOUS, scope=f"key:{ANONYMOUS}")

    @property
    def keys(self) -> list[ApiKey]:
        """The configured keys (without their digests)."""
        return [key for _, key in self._keys]

    @property
    def open(self) -> bool:
        """No keys configured: every caller is anonymous (allowed on loopback only)."""
        return not self._keys

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The key a ``Bearer`` header presents, or ``None`` if it presents no valid one."""
        if self.open:
            return self.anonymous
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        presented = hashlib.sha256(token.encode()).hexdigest().encode()
        found: ApiKey | None = None
        for expected, key in self._keys:  # no early exit: every key costs the same
            if hmac.compare_digest(presented, expected) and found is None:
                found = key
        return found


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_exposure(keys: Sequence[KeyConfig], host: str) -> None:
    """Refuse to serve without keys on an address other machines can reach."""
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without API keys: anyone who can reach it could "
            f"spend on your models. Fix: add keys: to proctor.yaml (see docs/gateway.md), "
            f"or bind to 127.0.0.1"
        )
