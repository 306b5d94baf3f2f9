"""Response and tool-output caches: keys, cached bytes, and the memory, store and Redis backends."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from proctor.errors import ConfigError, StoreError
from proctor.gateway import (
    AssistantMessage,
    CacheConfig,
    CallSettings,
    Gateway,
    MemoryCache,
    Message,
    ModelRequest,
    ModelResponse,
    RedisCache,
    ResponseCache,
    ScriptedModel,
    StoreCache,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    Turn,
    UserMessage,
    open_cache,
    response_cache_key,
    tool_cache_key,
)
from proctor.gateway._cache import decode_response, encode_response
from proctor.store import RecordedToolCall, SQLiteStore, Store, Usage, digest, keyed_digest
from support.redis_server import CLOSED_URL, RedisTarget, redis_target


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis() -> AsyncIterator[RedisTarget]:
    async with redis_target() as target:
        yield target


LOOKUP = ToolSpec(
    name="erp.lookup",
    description="Find a purchase order",
    parameters={"type": "object", "properties": {"po": {"type": "string"}}},
)


def conversation(call_id: str = "call_1") -> list[Message]:
    return [
        SystemMessage(content="You reconcile invoices."),
        UserMessage(content="Check PO-1001"),
        AssistantMessage(
            tool_calls=(RecordedToolCall(id=call_id, name="erp.lookup", arguments={"po": "1"}),)
        ),
        ToolMessage(call_id=call_id, name="erp.lookup", content='{"total": 12}'),
    ]


SECRET = b"k" * 32


def key(
    messages: list[Message] | None = None,
    tools: list[ToolSpec] | None = None,
    settings: CallSettings | None = None,
    chain: tuple[str, ...] = ("small", "large"),
) -> str:
    messages = conversation() if messages is None else messages
    tools = [LOOKUP] if tools is None else tools
    return response_cache_key(chain, messages, tools, settings, secret=SECRET)


def tool_key(name: str, arguments: dict[str, Any], secret: bytes = SECRET) -> str:
    return tool_cache_key(name, arguments, secret=secret)


# Keys -------------------------------------------------------------------------------------


def test_response_keys_ignore_tool_call_ids() -> None:
    assert key(conversation("call_1")) == key(conversation("call_zz9"))
    assert key().startswith("response:")


def test_response_keys_ignore_the_timeout_and_default_settings() -> None:
    assert key(settings=None) == key(settings=CallSettings())
    assert key(settings=CallSettings(timeout_s=5)) == key(settings=CallSettings(timeout_s=60))


def test_response_keys_change_with_everything_that_changes_the_answer() -> None:
    other_tool = ToolSpec(name=LOOKUP.name, description="Other", parameters=LOOKUP.parameters)
    first, *rest = conversation()
    variants = [
        key(),
        key(chain=("large", "small")),
        key(chain=("small",)),
        key(conversation()[:-1]),
        key([*rest, first]),
        key([*conversation(), UserMessage(content="and PO-1002?")]),
        key(tools=[]),
        key(tools=[other_tool]),
        key(settings=CallSettings(temperature=0.0)),
        key(settings=CallSettings(temperature=0.7)),
        key(settings=CallSettings(max_tokens=100)),
    ]
    assert len(set(variants)) == len(variants)


def test_tool_keys_are_canonical_in_their_arguments() -> None:
    assert tool_key("prices.get", {"a": 1, "b": [1, 2]}) == tool_key(
        "prices.get", {"b": [1, 2], "a": 1}
    )
    assert tool_key("prices.get", {"a": 1}) != tool_key("prices.get", {"a": 2})
    assert tool_key("prices.get", {"a": 1}) != tool_key("prices.list", {"a": 1})
    assert tool_key("prices.get", {}).startswith("tool:prices.get:")


def test_keys_are_macs_under_the_secret_not_plain_hashes() -> None:
    card = {"card": "4111111111111111"}
    # Whoever reads stored keys cannot confirm a guess by hashing it...
    assert digest(card) not in tool_key("pay", card)
    assert tool_key("pay", card) == f"tool:pay:{keyed_digest(SECRET, card)}"
    # ... and another secret gives other keys for the same content.
    assert tool_key("pay", card, b"x" * 32) != tool_key("pay", card)
    other = response_cache_key(["small"], conversation(), [LOOKUP], None, secret=b"x" * 32)
    assert other != response_cache_key(["small"], conversation(), [LOOKUP], None, secret=SECRET)


# Cached bytes -----------------------------------------------------------------------------


def test_a_response_round_trips_with_its_deployment() -> None:
    response = ModelResponse(
        model="gpt-4o-mini",
        text="Paying.",
        tool_calls=(
            RecordedToolCall(id="c1", name="erp.pay", arguments={"amount": 12.5}),
            RecordedToolCall(id="c2", name="erp.pay", raw_arguments="{not json"),
        ),
        usage=Usage(input_tokens=120, output_tokens=8, cached_input_tokens=100),
        finish_reason="tool_calls",
    )

    assert decode_response(encode_response(response, "small")) == (response, "small")


@pytest.mark.parametrize(
    "data",
    [b"\x00garbage", b"[1, 2]", b'{"v": 1}', b'{"v": 99, "deployment": "x", "model": "m"}'],
)
def test_bytes_that_are_not_a_cached_response_are_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a cached response"):
        decode_response(data)


# Memory -----------------------------------------------------------------------------------


async def test_memory_cache_expires_entries() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl_s=10)

    clock.now += 9.9
    assert await cache.get("k") == b"v"
    clock.now += 0.1
    assert await cache.get("k") is None
    assert await cache.get("never-set") is None


async def test_memory_cache_drops_the_oldest_entry_when_full() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    await cache.set("a", b"1'", ttl_s=60)  # rewritten: now the newest
    await cache.set("c", b"3", ttl_s=60)

    assert [await cache.get(k) for k in "abc"] == [b"1'", None, b"3"]


# Store ------------------------------------------------------------------------------------


async def test_store_cache_expires_entries_on_its_clock(store: Store) -> None:
    clock = Clock()
    cache = StoreCache(store, clock=clock)
    await cache.set("k", b"v", ttl_s=10)

    assert await cache.get("k") == b"v"
    clock.now += 10
    assert await cache.get("k") is None
    assert cache.last_error is None


async def test_store_caches_on_one_store_file_share_entries(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    try:
        await StoreCache(first).set("k", b"shared", ttl_s=60)
        assert await StoreCache(second).get("k") == b"shared"
    finally:
        await first.close()
        await second.close()


async def test_store_cache_writes_in_batches_and_reads_what_is_queued(store: Store) -> None:
    cache = StoreCache(store, batch_s=0.05)
    batches: list[int] = []
    write = store.cache_put_many
    looked = asyncio.Event()  # the batch waits for the look, however slow the host

    async def counted(entries: Sequence[tuple[str, bytes, float]]) -> None:
        batches.append(len(entries))
        await looked.wait()
        await write(entries)

    store.cache_put_many = counted  # type: ignore[method-assign]
    writes = [asyncio.create_task(cache.set(f"k{n}", b"v", ttl_s=60)) for n in range(5)]
    await asyncio.sleep(0)
    assert await cache.get("k3") == b"v"  # queued, not written yet, found all the same
    assert await store.cache_get("k3", now=0.0) is None
    looked.set()
    await asyncio.gather(*writes)  # a writer returns once its batch is written
    assert batches == [5]
    assert await store.cache_get("k3", now=0.0) == b"v"


async def test_store_cache_purges_expired_rows_on_a_write_now_and_then(store: Store) -> None:
    clock = Clock()
    cache = StoreCache(store, clock=clock, purge_every_s=100)
    await cache.set("old", b"1", ttl_s=5)
    clock.now += 50
    await cache.set("young", b"2", ttl_s=5)  # before the first purge is due
    assert await store.cache_get("old", now=0.0) == b"1"

    clock.now += 50
    await cache.set("new", b"3", ttl_s=5)

    assert await store.cache_get("old", now=0.0) is None
    assert await store.cache_get("young", now=0.0) is None
    assert await cache.get("new") == b"3"


async def test_a_failing_store_is_a_miss_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    await store.close()
    cache = StoreCache(store)

    with caplog.at_level(logging.DEBUG, logger="proctor.gateway.cache"):
        assert await cache.get("k") is None
        await cache.set("k", b"v", ttl_s=60)
        assert await cache.get("k") is None

    assert isinstance(cache.last_error, StoreError)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "every call is a miss" in warnings[0].getMessage()


# Redis (the real server) ------------------------------------------------------------------


async def test_redis_caches_share_entries_and_expire_them(redis: RedisTarget) -> None:
    first = RedisCache(redis.url, prefix=redis.prefix, timeout_s=5)
    second = RedisCache(redis.url, prefix=redis.prefix, timeout_s=5)
    try:
        await first.set("k", b"\x00bytes\xff", ttl_s=60)
        await first.set("brief", b"v", ttl_s=0.05)

        assert await second.get("k") == b"\x00bytes\xff"
        assert 55_000 < await redis.client.pttl(f"{redis.prefix}k") <= 60_000
        await asyncio.sleep(0.15)
        assert await second.get("brief") is None
        assert await second.get("missing") is None
        assert first.last_error is None
        assert second.last_error is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_is_a_miss_and_is_left_alone_for_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cache = RedisCache(CLOSED_URL, cooldown_s=5, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="proctor.gateway.cache"):
            assert await cache.get("k") is None
        first_error = cache.last_error
        assert first_error is not None
        assert "every call is a miss" in caplog.text

        await cache.set("k", b"v", ttl_s=60)  # within the cooldown: not even tried
        assert await cache.get("k") is None
        assert cache.last_error is first_error

        clock.now += 5
        await cache.set("k", b"v", ttl_s=60)  # tried again, and failed again: no raise
        assert cache.last_error is not first_error
    finally:
        await cache.aclose()


# open_cache -------------------------------------------------------------------------------


async def test_open_cache_builds_the_configured_backend(store: Store) -> None:
    assert open_cache(CacheConfig(backend="none"), store) is None
    assert isinstance(open_cache(CacheConfig(backend="store"), store), StoreCache)
    assert isinstance(open_cache(CacheConfig(backend="store"), None), MemoryCache)
    redis_cache = open_cache(CacheConfig(backend="redis", redis_url=CLOSED_URL), store)
    assert isinstance(redis_cache, RedisCache)
    await redis_cache.aclose()


def test_an_invalid_redis_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"invalid redis_url 'http://x'.*Fix: use redis://"):
        open_cache(CacheConfig(backend="redis", redis_url="http://x"), None)


def test_an_estimated_usage_stays_flagged_through_the_cache() -> None:
    response = ModelResponse(
        model="m", text="hi", usage=Usage(output_tokens=3), usage_estimated=True
    )

    assert decode_response(encode_response(response, "small"))[0].usage_estimated


@pytest.mark.parametrize("keep", [True, False])
async def test_cache_if_decides_whether_an_answer_is_written(keep: bool) -> None:
    seen: list[str | None] = []

    def only_clean(response: ModelResponse) -> bool:
        seen.append(response.text)
        return keep

    model = ScriptedModel(scenario="s", script=lambda messages: Turn(text="call me at 555-0100"))
    gateway = Gateway.single(model)
    gateway.cache = MemoryCache()
    request = ModelRequest(messages=conversation(), cache_if=only_clean)

    first = await gateway.complete(request)
    await gateway.flush()
    second = await gateway.complete(request)

    assert seen[0] == "call me at 555-0100"
    assert not first.cache_hit
    assert second.cache_hit is keep


# Keyed keys end to end ---------------------------------------------------------------------


def cached_gateway(cache: ResponseCache, secret: bytes | None) -> Gateway:
    model = ScriptedModel(scenario="s", script=lambda messages: Turn(text="Refunded."))
    single = Gateway.single(model)
    return Gateway(
        deployments=single.deployments,
        routes=single.routes,
        default_route=single.default_route,
        router=single.router,
        cache=cache,
        cache_secret=secret,
    )


CARD_REQUEST = ModelRequest(
    messages=[UserMessage(content="Refund card 4111 1111 1111 1111 for jane.doe@example.com")]
)


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [(b"a" * 32, b"a" * 32, True), (b"a" * 32, b"b" * 32, False), (None, None, False)],
    ids=["same-secret", "other-secret", "random-secrets"],
)
async def test_gateways_share_cached_answers_only_under_the_same_secret(
    store: Store, first: bytes | None, second: bytes | None, shared: bool
) -> None:
    cache = StoreCache(store)
    writer, reader = cached_gateway(cache, first), cached_gateway(cache, second)

    assert not (await writer.complete(CARD_REQUEST)).cache_hit
    await writer.flush()

    assert (await reader.complete(CARD_REQUEST)).cache_hit is shared
    assert (await writer.complete(CARD_REQUEST)).cache_hit  # its own entry, whatever the secret


def test_a_cache_secret_too_short_to_be_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"cache secret has 3 bytes.*Fix: pass"):
        cached_gateway(MemoryCache(), b"abc")


async def test_no_plain_hash_of_cached_content_reaches_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed: list[Any] = []

    def spy(secret: bytes, value: Any) -> str:
        keyed.append(value)
        return keyed_digest(secret, value)

    monkeypatch.setattr("proctor.gateway._cache.keyed_digest", spy)
    db = SQLiteStore(tmp_path / "cache.db")
    gateway = cached_gateway(StoreCache(db), b"s" * 32)
    await gateway.complete(CARD_REQUEST)
    await gateway.flush()
    tool_key = gateway.tool_cache_key("cards.refund", {"card": "4111111111111111"})
    await StoreCache(db).set(tool_key, b"{}", ttl_s=60)
    with closing(sqlite3.connect(db.path)) as raw:
        stored = [row[0] for row in raw.execute("SELECT key FROM cache")]
    await db.close()

    assert len(keyed) == len(stored) == 2  # a response key and a tool key
    everything = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for value in keyed:
        assert digest(value).encode() not in everything
    assert all(key.split(":")[-1].encode() in everything for key in stored)
