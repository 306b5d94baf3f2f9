"""Retries do not multiply: the gateway retries and falls back, then tells the client not
to (``x-should-retry``); every answer names its request (``x-request-id``)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from proctor.store import SQLiteStore
from support.fake_openai import Completion, ErrorReply, FakeOpenAIServer
from support.http_endpoint import one_model_config, running_endpoint


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "upstream-secret")
    with FakeOpenAIServer(default=ErrorReply(status=500, message="down")) as server:
        yield server


async def test_a_failing_upstream_is_hit_only_by_the_gateways_own_retries(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    config = one_model_config(
        upstream.base_url,
        retry={"max_retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.02},
        cooldown={"allowed_failures": 10, "cooldown_s": 1},
    )
    async with running_endpoint(config, db) as running:
        # The official client as users run it: its own retries on (2 by default).
        client = openai.AsyncOpenAI(base_url=running.base_url, api_key="unused", timeout=20)
        try:
            with pytest.raises(openai.APIStatusError) as raised:
                await client.chat.completions.create(
                    model="small", messages=[{"role": "user", "content": "hi"}]
                )
            failed = raised.value.response
            assert failed.headers["x-should-retry"] == "false"
            assert failed.headers["x-request-id"].startswith("chatcmpl-")
            assert len(upstream.requests) == 3  # 1 + the gateway's 2 retries, not x3

            upstream.enqueue(Completion(text="back"))
            raw = await client.chat.completions.with_raw_response.create(
                model="small", messages=[{"role": "user", "content": "hi"}]
            )
            assert raw.headers["x-request-id"] == raw.parse().id
        finally:
            await client.close()


async def test_the_health_probes_answer_without_a_key(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    import httpx2

    config = one_model_config(upstream.base_url, keys=[{"name": "alice", "key_sha256": "0" * 64}])
    async with running_endpoint(config, db) as running:
        root = running.base_url.removesuffix("/v1")
        async with httpx2.AsyncClient(base_url=root) as http:
            live = await http.get("/healthz")
            ready = await http.get("/readyz")
            chat = await http.post("/v1/chat/completions", json={})
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert chat.status_code == 401  # the API itself still needs a key


async def test_readiness_fails_while_the_stores_schema_is_behind(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    import sqlite3

    import httpx2

    config = one_model_config(upstream.base_url, keys=[{"name": "alice", "key_sha256": "0" * 64}])
    async with running_endpoint(config, db) as running:
        root = running.base_url.removesuffix("/v1")
        async with httpx2.AsyncClient(base_url=root) as http:
            current = (await http.get("/readyz")).json()
            # A deploy that rolled out a newer Proctor before `proctor db upgrade` ran.
            with sqlite3.connect(db.path) as raw:
                raw.execute(f"PRAGMA user_version = {current['schema_version'] - 1}")
            behind = await http.get("/readyz")
            live = await http.get("/healthz")
    assert current["status"] == "ready"
    assert current["schema_version"] == current["supported_version"]
    assert behind.status_code == 503
    assert behind.json()["status"] == "unavailable"
    assert "proctor db upgrade" in behind.json()["reason"]
    assert str(db.path) not in behind.text  # where the store is stays in the log
    assert live.status_code == 200  # alive all the same: restarting it fixes nothing


async def test_one_model_is_looked_up_as_openai_clients_do(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    config = one_model_config(upstream.base_url, routes={"team/default": ["small"]})
    async with running_endpoint(config, db) as running:
        client = running.client(key="unused")
        found = await client.models.retrieve("team/default")
        assert (found.id, found.object) == ("team/default", "model")
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            await client.models.retrieve("gpt-5")


async def test_a_limited_key_sees_its_buckets_in_x_ratelimit_headers(
    upstream: FakeOpenAIServer, db: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMITED_KEY", "sk-limited")
    upstream.default = Completion(text="ok")
    key = {"name": "limited", "key_env": "LIMITED_KEY", "rpm": 2, "tpm": 10_000}
    config = one_model_config(upstream.base_url, keys=[key], rate_limits={"max_wait_s": 0})
    # About 1,000 tokens: what refills while a slow host answers (167 tokens/s) stays less.
    hi: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi there " * 450}]
    async with running_endpoint(config, db) as running:
        client = running.client("sk-limited")  # distinct prompts: a cache hit takes nothing
        raw = await client.chat.completions.with_raw_response.create(model="small", messages=hi)
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"
        assert raw.headers["x-ratelimit-limit-tokens"] == "10000"
        assert 8_500 < int(raw.headers["x-ratelimit-remaining-tokens"]) < 10_000
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        again: list[ChatCompletionMessageParam] = [{"role": "user", "content": "again"}]
        await client.chat.completions.create(model="small", messages=again)
        third: list[ChatCompletionMessageParam] = [{"role": "user", "content": "third"}]
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="small", messages=third)
        headers = refused.value.response.headers
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-should-retry"] == "true"  # a rate limit passes
        assert int(headers["retry-after"]) >= 1
