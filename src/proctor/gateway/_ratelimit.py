"""Requests- and tokens-per-minute limits: token buckets, in process or shared through Redis.

Each scope (a deployment, an API key) has two buckets, one of requests and one of tokens.
A bucket holds up to its per-minute limit and refills continuously at limit/60 per second.

``acquire`` reserves: it computes how long until both buckets hold enough, and if that is
within ``max_wait_s`` it takes at once (a bucket may go below zero) and then sleeps. Later
callers see the reservation and queue behind it, so waiting callers are served in order
and none waits longer than it was told. A request bigger than a whole bucket waits only
until the bucket is full, then takes everything and leaves a debt: otherwise it could never
run. ``settle`` corrects the tokens once the real usage is known; a debt delays the next
callers until it is refilled.

``MemoryRateLimiter`` is for one event loop. ``RedisRateLimiter`` does the same in one Lua
script on the Redis server's clock, so every process sharing the server shares the limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proctor.errors import UsageError
from proctor.gateway._cache import Outages
from proctor.gateway._config import RateLimitConfig
from proctor.gateway._errors import RateLimitExceeded
from proctor.gateway._redis import redis_client
from proctor.gateway._types import BucketLevels, RateLimiter, RateLimits

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("proctor.gateway.ratelimit")

Sleep = Callable[[float], Awaitable[None]]


def _checked(limits: RateLimits) -> tuple[int, int]:
    """``(rpm, tpm)`` with 0 for unlimited, as the Lua script takes them."""
    for name, value in (("rpm", limits.rpm), ("tpm", limits.tpm)):
        if value is not None and value <= 0:
            raise UsageError(f"rate limit {name}={value} must be positive (or None: unlimited)")
    return limits.rpm or 0, limits.tpm or 0


def _refused(
    scope: str, limit: str, per_minute: int, wait: float, max_wait_s: float
) -> RateLimitExceeded:
    unit = "requests" if limit == "rpm" else "tokens"
    return RateLimitExceeded(
        f"rate limit of {scope!r} ({per_minute} {unit} per minute) frees capacity in "
        f"{wait:.2f}s, longer than the {max_wait_s:.2f}s a call may wait. Fix: retry later, "
        "raise the limit, or raise rate_limits.max_wait_s",
        scope=scope,
        limit=limit,
        retry_in_s=wait,
    )


@dataclass(kw_only=True, slots=True)
class _Buckets:
    requests: float
    tokens: float
    at: float


class MemoryRateLimiter:
    """Token buckets in this process (the default); for one event loop.

    Each ``acquire`` decides and takes without awaiting in between, which on one event loop
    is atomic: two callers can never both take the last token, and no lock is needed.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._scopes: dict[str, _Buckets] = {}

    async def acquire(
        self, scope: str, limits: RateLimits, *, tokens: int, max_wait_s: float
    ) -> float:
        rpm, tpm = _checked(limits)
        if not rpm and not tpm:
            return 0.0
        state = self._refilled(scope, rpm, tpm)
        wait, limit = 0.0, "rpm"
        if rpm and state.requests < 1:
            wait = (1 - state.requests) * 60 / rpm
        if tpm:
            token_wait = (min(tokens, tpm) - state.tokens) * 60 / tpm
            if token_wait > wait:
                wait, limit = token_wait, "tpm"
        if wait > max_wait_s:
            raise _refused(scope, limit, rpm if limit == "rpm" else tpm, wait, max_wait_s)
        self._take(state, rpm, tpm, requests=1, tokens=tokens)
        if wait > 0:
            try:
                await self._sleep(wait)
            except BaseException:  # cancelled while queued: give the reservation back
                self._take(self._refilled(scope, rpm, tpm), rpm, tpm, requests=-1, tokens=-tokens)
                raise
        return wait

    async def settle(self, scope: str, limits: RateLimits, *, tokens_delta: int) -> None:
        rpm, tpm = _checked(limits)
        if tpm:
            self._take(self._refilled(scope, rpm, tpm), rpm, tpm, requests=0, tokens=tokens_delta)

    def levels(self, scope: str, limits: RateLimits) -> BucketLevels | None:
        state = self._scopes.get(scope)
        if state is None:
            return None
        rpm, tpm = _checked(limits)
        state = self._refilled(scope, rpm, tpm)
        return _levels(rpm, tpm, state.requests, state.tokens)

    def _refilled(self, scope: str, rpm: int, tpm: int) -> _Buckets:
        now = self._clock()
        state = self._scopes.setdefault(scope, _Buckets(requests=math.inf, tokens=math.inf, at=now))
        elapsed = max(0.0, now - state.at)
        state.requests = _level(state.requests + elapsed * rpm / 60, rpm)
        state.tokens = _level(state.tokens + elapsed * tpm / 60, tpm)
        state.at = now
        return state

    @staticmethod
    def _take(state: _Buckets, rpm: int, tpm: int, *, requests: int, tokens: int) -> None:
        # A negative take gives back, but never past a full bucket.
        state.requests = _level(state.requests - requests, rpm)
        state.tokens = _level(state.tokens - tokens, tpm)


def _levels(rpm: int, tpm: int, requests: float, tokens: float) -> BucketLevels:
    return BucketLevels(
        requests=requests if rpm else None,
        tokens=tokens if tpm else None,
        requests_full_in_s=(rpm - requests) * 60 / rpm if rpm else 0.0,
        tokens_full_in_s=(tpm - tokens) * 60 / tpm if tpm else 0.0,
    )


def _level(level: float, capacity: int) -> float:
    """At most full; an unlimited bucket stays infinite, so a limit added later starts full."""
    return min(capacity, level) if capacity else math.inf


# Both buckets of a scope live in one hash: r (requests), k (tokens), ts (server time, s).
# ARGV: rpm, tpm (0: unlimited), op, requests, tokens, max_wait_s.
#   op "acquire": {1, wait, r, k} taken (the caller sleeps `wait`; r and k are the levels
#   after taking), or {0, wait, limit} refused.
#   op "take": take requests and tokens (negative gives back); {1, "0", r, k}.
# The hash expires once both buckets would be full again, since a missing hash reads full.
_SCRIPT = """
local rpm, tpm, op = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local requests, tokens = tonumber(ARGV[4]), tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'r', 'k', 'ts')
local elapsed = math.max(0, now - (tonumber(saved[3]) or now))
local function refill(level, cap)
  if cap == 0 then return 0 end
  return math.min(cap, (tonumber(level) or cap) + elapsed * cap / 60)
end
local r, k = refill(saved[1], rpm), refill(saved[2], tpm)
local wait = 0
if op == 'acquire' then
  local limit = 'rpm'
  if rpm > 0 and r < 1 then wait = (1 - r) * 60 / rpm end
  if tpm > 0 then
    local token_wait = (math.min(tokens, tpm) - k) * 60 / tpm
    if token_wait > wait then wait, limit = token_wait, 'tpm' end
  end
  if wait > tonumber(ARGV[6]) then
    return {0, string.format('%.17g', wait), limit}
  end
end
local fields, full = {'ts', string.format('%.17g', now)}, 0
-- An unlimited bucket is dropped, so a limit added later starts full.
if rpm == 0 then redis.call('HDEL', KEYS[1], 'r') end
if tpm == 0 then redis.call('HDEL', KEYS[1], 'k') end
if rpm > 0 then
  r = math.min(rpm, r - requests)
  table.insert(fields, 'r')
  table.insert(fields, string.format('%.17g', r))
  full = math.max(full, (rpm - r) * 60 / rpm)
end
if tpm > 0 then
  k = math.min(tpm, k - tokens)
  table.insert(fields, 'k')
  table.insert(fields, string.format('%.17g', k))
  full = math.max(full, (tpm - k) * 60 / tpm)
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.ceil(full * 1000) + 1)
return {1, string.format('%.17g', wait), string.format('%.17g', r), string.format('%.17g', k)}
"""
_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()


class RedisRateLimiter:
    """Token buckets in Redis, atomic across processes (one Lua script per call).

    The script runs on the server's clock, so the processes' clocks do not matter. If
    Redis cannot be reached the limiter lets calls through (logged, ``last_error`` set):
    the limits protect the providers, which still enforce their own with a 429.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "proctor:rl:",
        timeout_s: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._sleep = sleep
        self._redis: Redis = redis_client(url, timeout_s=timeout_s, what="rate limiter")
        self._seen: dict[str, BucketLevels] = {}
        self._giving_back: set[asyncio.Future[Any]] = set()
        """Round trips of cancelled acquires, kept until they have given back."""
        self._outages = Outages(
            f"the Redis rate limiter at {url}", fallback="calls are not limited", log=logger
        )

    @property
    def last_error(self) -> Exception | None:
        return self._outages.last_error

    async def acquire(
        self, scope: str, limits: RateLimits, *, tokens: int, max_wait_s: float
    ) -> float:
        rpm, tpm = _checked(limits)
        if not rpm and not tpm:
            return 0.0
        asked = asyncio.ensure_future(self._run(scope, rpm, tpm, "acquire", 1, tokens, max_wait_s))
        try:
            result = await asyncio.shield(asked)
        except asyncio.CancelledError:
            # Cancelled while the script's answer was on its way: it may have reserved
            # already. Give the reservation back once it answers, whoever waits.
            self._giving_back.add(asked)
            asked.add_done_callback(lambda done: self._give_back(done, scope, rpm, tpm, tokens))
            raise
        if result is None:
            return 0.0
        wait = float(result[1])
        if not result[0]:
            limit = result[2].decode() if isinstance(result[2], bytes) else str(result[2])
            raise _refused(scope, limit, rpm if limit == "rpm" else tpm, wait, max_wait_s)
        self._seen[scope] = _levels(rpm, tpm, float(result[2]), float(result[3]))
        if wait > 0:
            try:
                await self._sleep(wait)
            except BaseException:  # cancelled while queued: give the reservation back
                await self._run(scope, rpm, tpm, "take", -1, -tokens, 0.0)
                raise
        return wait

    def _give_back(
        self, asked: asyncio.Future[list[Any] | None], scope: str, rpm: int, tpm: int, tokens: int
    ) -> None:
        """After a cancelled acquire's script answered: undo what it reserved, if anything."""
        self._giving_back.discard(asked)
        result = None if asked.cancelled() or asked.exception() else asked.result()
        if result is not None and result[0]:
            undo = asyncio.ensure_future(self._run(scope, rpm, tpm, "take", -1, -tokens, 0.0))
            self._giving_back.add(undo)  # held until done: a task only weakly referenced
            undo.add_done_callback(self._giving_back.discard)

    async def settle(self, scope: str, limits: RateLimits, *, tokens_delta: int) -> None:
        rpm, tpm = _checked(limits)
        if tpm:
            await self._run(scope, rpm, tpm, "take", 0, tokens_delta, 0.0)

    def levels(self, scope: str, limits: RateLimits) -> BucketLevels | None:
        # As the last acquire left them (no round trip to Redis for a header).
        return self._seen.get(scope)

    async def _run(
        self, scope: str, rpm: int, tpm: int, op: str, requests: int, tokens: int, wait: float
    ) -> list[Any] | None:
        from redis.exceptions import NoScriptError

        # Lua reads no "inf": a wait of 30,000 years is as good as unbounded.
        args = (self.prefix + scope, rpm, tpm, op, requests, tokens, repr(min(wait, 1e12)))
        try:
            try:
                result = await self._redis.evalsha(_SHA, 1, *args)
            except NoScriptError:  # a restarted or flushed server: EVAL loads it again
                result = await self._redis.eval(_SCRIPT, 1, *args)
        except Exception as exc:  # an outage must not fail the call it would only delay
            self._outages.failed(op, exc)
            return None
        self._outages.succeeded()
        return list(result)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def open_limiter(config: RateLimitConfig) -> RateLimiter:
    """The limiter ``config`` asks for: in process (``memory``) or shared (``redis``)."""
    if config.backend == "redis":
        return RedisRateLimiter(config.redis_url)
    return MemoryRateLimiter()
