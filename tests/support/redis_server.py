"""The real Redis server the Redis-backed tests run against, under a prefix of their own.

``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) names it. A test that cannot reach it
is skipped on a developer machine and fails in CI (``CI=true``), where Redis must run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CLOSED_URL = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1: a Redis that is down."""


@dataclass(frozen=True, kw_only=True)
class RedisTarget:
    url: str
    prefix: str
    client: Redis
    """A client of the test's own, to look behind the code under test."""


@asynccontextmanager
async def redis_target() -> AsyncIterator[RedisTarget]:
    """A client and a fresh key prefix; every key under the prefix is deleted afterwards."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        reason = f"Redis is not reachable at {REDIS_URL} ({exc}); start redis-server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the Redis-backed tests")
        pytest.skip(reason)
    prefix = f"proctor-test:{uuid4().hex}:"
    try:
        yield RedisTarget(url=REDIS_URL, prefix=prefix, client=client)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
