"""Response and tool-output caches: keys, the cached bytes, and three backends.

A cache sits in front of every model call, so it must never fail one: a backend that
raises is logged (a warning when it starts failing, then quietly) and reads as a miss.
``last_error`` keeps the most recent failure for tests and health checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, assert_never

import orjson
from pydantic import BaseModel, ConfigDict

from proctor.gateway._config import CacheConfig
from proctor.gateway._redis import redis_client
from proctor.gateway._types import (
    AssistantMessage,
    CallSettings,
    Message,
    ModelResponse,
    ResponseCache,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.store import RecordedToolCall, Usage, keyed_digest
from proctor.store import ResponseCache as StoredResponses

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("proctor.gateway.cache")

_KEY_VERSION = 1
"""Part of every response key: bump it when what a key covers changes."""


# Keys -------------------------------------------------------------------------------------


def response_cache_key(
    model_chain: Sequence[str],
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    settings: CallSettings | None,
    *,
    secret: bytes,
) -> str:
    """The key of a completion: models, conversation, tool schemas, and sampling.

    An HMAC under ``secret``: keys are stored (the cache, ``cache_hit`` events), and a
    plain hash of a conversation would let whoever reads them confirm a guessed card
    number or address in it.

    Tool-call ids are left out: providers mint new ones every run, so two identical
    conversations would never share a key. Order is kept, which still pairs each tool
    result with its call. The timeout is left out too: it does not change the answer.
    """
    sampling = settings or CallSettings()
    payload = {
        "v": _KEY_VERSION,
        "models": list(model_chain),
        "messages": [_message(message) for message in messages],
        "tools": [
            # ``strict`` only when given: keys of tools without it stay as they were.
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            | ({} if t.strict is None else {"strict": t.strict})
            for t in tools
        ],
        "settings": {"max_tokens": sampling.max_tokens, "temperature": sampling.temperature},
    }
    if sampling.extra:  # tool_choice, response_format, seed, ...: they change the answer
        payload["extra"] = sampling.extra
    return f"response:{keyed_digest(secret, payload)}"


def tool_cache_key(tool_name: str, arguments: dict[str, Any], *, secret: bytes) -> str:
    """The key of a tool result: its name and an HMAC under ``secret`` of its canonical
    arguments (key order is irrelevant), which cannot be reversed by guessing them."""
    return f"tool:{tool_name}:{keyed_digest(secret, arguments)}"


def _message(message: Message) -> dict[str, Any]:
    if message.parts is not None:  # blocks as a client sent them: images, thinking, ...
        return {"role": message.role, "parts": list(message.parts)}
    if isinstance(message, SystemMessage | UserMessage):
        return {"role": message.role, "content": message.content}
    if isinstance(message, AssistantMessage):
        calls = [
            {"name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments}
            for c in message.tool_calls
        ]
        return {"role": "assistant", "text": message.text, "tool_calls": calls}
    if isinstance(message, ToolMessage):
        return {"role": "tool", "name": message.name, "content": message.content}
    assert_never(message)


# Cached bytes -----------------------------------------------------------------------------


class _CachedResponse(BaseModel):
    model_config = ConfigDict(frozen=True)
    v: Literal[1] = 1
    deployment: str
    model: str
    text: str | None
    tool_calls: tuple[RecordedToolCall, ...]
    usage: Usage
    finish_reason: str
    usage_estimated: bool = False
    extra: dict[str, Any] | None = None


def encode_response(response: ModelResponse, deployment: str) -> bytes:
    """A response, and the deployment that produced it, as cache bytes."""
    cached = _CachedResponse(
        deployment=deployment,
        model=response.model,
        text=response.text,
        tool_calls=response.tool_calls,
        usage=response.usage,
        finish_reason=response.finish_reason,
        usage_estimated=response.usage_estimated,
        extra=response.extra,
    )
    return orjson.dumps(cached.model_dump(mode="json"))


def decode_response(data: bytes) -> tuple[ModelResponse, str]:
    """The response and deployment name back from ``encode_response`` bytes.

    Raises:
        ValueError: the bytes are not a cached response (corrupt, or an older format);
            callers should treat that as a miss.
    """
    try:
        cached = _CachedResponse.model_validate(orjson.loads(data))
    except ValueError as exc:  # orjson's and pydantic's errors both are ValueErrors
        raise ValueError(f"not a cached response: {exc}") from exc
    response = ModelResponse(
        model=cached.model,
        text=cached.text,
        tool_calls=cached.tool_calls,
        usage=cached.usage,
        finish_reason=cached.finish_reason,
        usage_estimated=cached.usage_estimated,
        extra=cached.extra,
    )
    return response, cached.deployment


# Backends ---------------------------------------------------------------------------------


class Outages:
    """Remembers failures: one warning when a backend goes down, one when it is back.

    A warning per call would flood the log for as long as an outage lasts.
    """

    def __init__(self, what: str, *, fallback: str, log: logging.Logger = logger) -> None:
        self.what = what
        self.fallback = fallback
        self.last_error: Exception | None = None
        self._log = log
        self._down = False

    def failed(self, action: str, exc: Exception) -> None:
        self.last_error = exc
        if self._down:
            self._log.debug("%s: %s failed again: %r", self.what, action, exc)
            return
        self._down = True
        self._log.warning(
            "%s: %s failed (%r); %s until it recovers", self.what, action, exc, self.fallback
        )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            self._log.warning("%s: recovered", self.what)


class MemoryCache:
    """A dict with expiry, for tests and single-process use; oldest entries go first when full."""

    def __init__(
        self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.last_error: Exception | None = None  # never set: kept for a uniform interface

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class StoreCache:
    """The cache in the Proctor store (the default): shared by every process on that store.

    Writes are gathered for ``batch_s`` and written in one transaction (a commit per
    answer would cost as much as the rest of a gateway call); until then a read finds
    them here. Expired rows are purged with a batch at most every ``purge_every_s``, so
    the table does not grow without bound and no reader pays for it.
    """

    def __init__(
        self,
        store: StoredResponses,
        *,
        clock: Callable[[], float] = time.time,
        purge_every_s: float = 600.0,
        batch_s: float = 0.005,
    ) -> None:
        self.store = store
        self._clock = clock  # wall time: expiries are shared with other processes
        self.purge_every_s = purge_every_s
        self.batch_s = batch_s
        self._next_purge = clock() + purge_every_s
        self._outages = Outages("the store cache", fallback="every call is a miss")
        self._pending: dict[str, tuple[bytes, float]] = {}
        self._batch: asyncio.Task[None] | None = None

    @property
    def last_error(self) -> Exception | None:
        return self._outages.last_error

    async def get(self, key: str) -> bytes | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending[0]
        try:
            value = await self.store.cache_get(key, self._clock())
        except Exception as exc:  # any failure, even a bug in a backend, must not fail the call
            self._outages.failed("read", exc)
            return None
        self._outages.succeeded()
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Queue the entry; returns once the batch holding it is written (or failed)."""
        self._pending[key] = (value, self._clock() + ttl_s)
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_task(self._write_batch())
        # Shielded: a writer cancelled while waiting must not cancel the others' batch.
        await asyncio.shield(self._batch)

    async def _write_batch(self) -> None:
        try:
            if self.batch_s > 0:
                await asyncio.sleep(self.batch_s)
        finally:
            self._batch = None  # later writes start the next batch
        entries, self._pending = self._pending, {}
        now = self._clock()
        try:
            await self.store.cache_put_many(
                [(key, value, expires_at) for key, (value, expires_at) in entries.items()]
            )
            if now >= self._next_purge:
                self._next_purge = now + self.purge_every_s
                await self.store.cache_purge(now)
        except Exception as exc:
            self._outages.failed("write", exc)
            return
        self._outages.succeeded()


class RedisCache:
    """The cache in Redis (``SET key value PX ttl``): shared by every process that uses it.

    After a failure, Redis is left alone for ``cooldown_s`` (every call a miss), so an
    unreachable server does not add a connect timeout to each model call.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "proctor:cache:",
        timeout_s: float = 1.0,
        cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._redis: Redis = redis_client(url, timeout_s=timeout_s, what="response cache")
        self._outages = Outages(f"the Redis cache at {url}", fallback="every call is a miss")
        self._resume_at = 0.0

    @property
    def last_error(self) -> Exception | None:
        return self._outages.last_error

    async def get(self, key: str) -> bytes | None:
        if self._clock() < self._resume_at:
            return None
        try:
            value = await self._redis.get(self.prefix + key)
        except Exception as exc:  # an outage, a timeout, a protocol error: all are misses
            self._failed("read", exc)
            return None
        self._outages.succeeded()
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self._clock() < self._resume_at:
            return
        try:
            await self._redis.set(self.prefix + key, value, px=max(1, round(ttl_s * 1000)))
        except Exception as exc:
            self._failed("write", exc)
            return
        self._outages.succeeded()

    def _failed(self, action: str, exc: Exception) -> None:
        self._outages.failed(action, exc)
        self._resume_at = self._clock() + self.cooldown_s

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def open_cache(config: CacheConfig, store: StoredResponses | None) -> ResponseCache | None:
    """The cache ``config`` asks for; ``None`` for backend ``none``.

    Backend ``store`` without a store (a gateway used on its own) is a ``MemoryCache``.
    """
    if config.backend == "none":
        return None
    if config.backend == "redis":
        return RedisCache(config.redis_url)
    if config.backend == "store":
        return MemoryCache() if store is None else StoreCache(store)
    assert_never(config.backend)
