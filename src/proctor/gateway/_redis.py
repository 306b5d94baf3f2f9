"""One way to open a Redis client for the cache and the rate limiter (the ``redis`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proctor.errors import DISTRIBUTION, ConfigError, install_command

if TYPE_CHECKING:
    from redis.asyncio import Redis


def redis_client(url: str, *, timeout_s: float, what: str) -> Redis:
    """A lazy client for ``url`` (nothing connects until the first command).

    Short socket timeouts and a single retry: the cache and the limiter sit in front of
    every model call, so an unreachable server must cost milliseconds, not minutes.
    """
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise ConfigError(
            f"the {what} is configured with the redis backend, but the redis package is not "
            f"installed. Fix: {install_command(f'{DISTRIBUTION}[redis]')}"
        ) from None
    try:
        return Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
        )
    except ValueError as exc:
        raise ConfigError(
            f"the {what} has an invalid redis_url {url!r} ({exc}). "
            "Fix: use redis://HOST:PORT/DB (or rediss:// for TLS)"
        ) from None
