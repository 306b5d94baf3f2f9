"""``proctor.yaml``: refused at start when it cannot work; a real run through a configured route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proctor.contracts import Contract
from proctor.errors import ConfigError
from proctor.gateway import (
    Gateway,
    GatewayConfig,
    MemoryCache,
    MemoryRateLimiter,
    ScriptedModel,
    StoreCache,
    Turn,
    build_gateway,
    load_config,
)
from proctor.runtime import Runner, Workflow
from proctor.store import ModelAttemptFailed, ModelCalled, SQLiteStore, row_to_event
from proctor.tools import Registry, tool
from support.fake_openai import Completion, ErrorReply, FakeOpenAIServer, FakeToolCall


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proctor.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("models:\n  small: {provider: bedrock, model: x}\n", "models.small.provider"),
        (
            "models:\n  small: {model: x, price: {input: -1, output: 1}}\n",
            "models.small.price.input",
        ),
        ("models:\n  small: {model: x}\nroutes:\n  default: [smal]\n", "did you mean 'small'"),
        ("models:\n  small: {model: x, colour: blue}\n", "models.small.colour: unknown key"),
        ("models:\n  small: {model: x}\nroutes:\n  default: []\n", "route 'default' is empty"),
        ("models: [oops\n", "invalid YAML"),
    ],
)
def test_a_config_that_cannot_work_is_refused_with_file_key_and_fix(
    tmp_path: Path, text: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_a_missing_key_variable_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEAM_KEY", raising=False)
    path = write(tmp_path, "models:\n  small: {model: x, api_key_env: TEAM_KEY}\n")
    with pytest.raises(ConfigError, match="export TEAM_KEY="):
        load_config(path)


def test_no_config_file_is_an_empty_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROCTOR_CONFIG", raising=False)
    assert load_config().models == {}


@tool("kb.search", idempotent=True)
def search(query: str) -> list[str]:
    """Search the knowledge base."""
    return [f"about {query}"]


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        yield first, second


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


async def test_a_run_on_a_configured_route_falls_back_and_is_priced_from_the_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    upstreams: tuple[FakeOpenAIServer, FakeOpenAIServer],
    db: SQLiteStore,
) -> None:
    first, second = upstreams
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    path = write(
        tmp_path,
        f"""
models:
  primary:
    model: fake-model
    base_url: {first.base_url}
    price: {{input: 1.0, output: 2.0}}
  backup:
    model: fake-model
    base_url: {second.base_url}
    price: {{input: 3.0, output: 6.0}}
routes:
  main: [primary, backup]
retry: {{max_retries: 0}}
""",
    )
    first.enqueue(*[ErrorReply(status=500, message="down")] * 3)
    second.enqueue(
        Completion(
            text=None,
            tool_calls=[FakeToolCall(name="kb__search", arguments='{"query": "refund"}')],
            prompt_tokens=1000,
            completion_tokens=100,
        ),
        Completion(text="Refunds take 5 days.", prompt_tokens=1200, completion_tokens=50),
    )
    gateway = Gateway.from_config(load_config(path))
    flow = Workflow(
        name="support",
        registry=Registry([search]),
        contract=Contract.model_validate(
            {"workflow": "support", "required_steps": ["kb.search"], "model": {"default": "main"}}
        ),
        instructions="Answer.",
        default_model="main",
    )
    try:
        result = await Runner(db, flow, gateway=gateway).start({"q": "refunds?"})
    finally:
        await gateway.aclose()
    assert result.outcome == "resolved"
    assert result.final_text == "Refunds take 5 days."
    events = [row_to_event(row).data for row in await db.events(result.run_id)]
    failed = [e for e in events if isinstance(e, ModelAttemptFailed)]
    assert failed
    assert failed[0].deployment == "primary"
    assert failed[0].action == "fallback"
    called = [e for e in events if isinstance(e, ModelCalled)]
    # backup's prices: 1000 in x $3/M + 100 out x $6/M, then 1200 x $3/M + 50 x $6/M
    assert [c.cost_usd for c in called] == pytest.approx([0.0036, 0.0039])
    assert len(second.bodies) == 2
    assert second.bodies[0]["tools"][0]["function"]["name"] == "kb__search"


async def test_cached_prompt_tokens_are_read_and_priced_at_their_own_rate(
    upstreams: tuple[FakeOpenAIServer, FakeOpenAIServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from proctor.gateway import OpenAIModel, Price

    first, _ = upstreams
    first.enqueue(
        Completion(text="hi", prompt_tokens=1000, completion_tokens=10, cached_tokens=800)
    )
    model = OpenAIModel("fake-model", base_url=first.base_url, api_key="unused")
    try:
        response = await model.complete([], [])
    finally:
        await model.aclose()
    assert response.usage.cached_input_tokens == 800
    price = Price(input_per_million=2.0, output_per_million=8.0, cached_input_per_million=0.5)
    # 200 fresh x $2/M + 800 cached x $0.5/M + 10 out x $8/M
    assert price.cost(response.usage) == pytest.approx((400 + 400 + 80) / 1_000_000)


async def test_build_gateway_opens_the_configured_cache_and_limiter(tmp_path: Path) -> None:
    raw = {
        "models": {"small": {"model": "m", "provider": "scripted"}},
        "routes": {"main": ["small"]},
    }
    scripted = ScriptedModel(scenario="s", script=[Turn(text="hi")])
    clients = {"small": scripted}
    store = SQLiteStore(tmp_path / "p.db")
    try:
        gateway = build_gateway(GatewayConfig.model_validate(raw), store, clients=clients)
        assert isinstance(gateway.cache, StoreCache)
        assert isinstance(gateway.limiter, MemoryRateLimiter)
        assert gateway.router.limiter is gateway.limiter
        assert gateway.default_route == "main"
        assert gateway.deployments["small"].client is scripted
        no_store = build_gateway(GatewayConfig.model_validate(raw), None, clients=clients)
        assert isinstance(no_store.cache, MemoryCache)
        uncached = GatewayConfig.model_validate({**raw, "cache": {"backend": "none"}})
        assert build_gateway(uncached, store, clients=clients).cache is None
    finally:
        await store.close()


def test_redis_is_found_by_the_environment_unless_the_file_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = {"cache": {"backend": "redis"}, "rate_limits": {"backend": "redis"}}
    local = GatewayConfig.model_validate(raw)
    assert local.cache.redis_url == local.rate_limits.redis_url == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("PROCTOR_REDIS_URL", "redis://cache.internal:6379/2")
    found = GatewayConfig.model_validate(raw)
    assert found.cache.redis_url == found.rate_limits.redis_url == "redis://cache.internal:6379/2"
    named = GatewayConfig.model_validate(
        {"cache": {"backend": "redis", "redis_url": "redis://x/1"}}
    )
    assert named.cache.redis_url == "redis://x/1"
