"""The OpenAI-compatible endpoint over real HTTP, driven by the official ``openai`` client.

Upstreams are one ``FakeOpenAIServer``; its deployments differ by model name, so what it
recorded shows which deployment the gateway called. The endpoint runs with uvicorn on an
ephemeral loopback port (``support.http_endpoint``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from proctor.endpoint import _endpoint
from proctor.store import SQLiteStore
from support.fake_openai import Completion, ErrorReply, FakeOpenAIServer, FakeToolCall
from support.http_endpoint import Endpoint, running_endpoint

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
FETCH_PO: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "erp.fetch_po",
        "description": "Fetch a purchase order.",
        "parameters": {"type": "object", "properties": {"po": {"type": "string"}}},
    },
}


def say(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def gateway_config(base_url: str) -> dict[str, Any]:
    upstream = {"base_url": base_url, "api_key_env": "FAKE_UPSTREAM_KEY"}
    return {
        "models": {
            "small": {"model": "gpt-4o-mini", **upstream},
            "large": {"model": "gpt-4o", **upstream},
            "local": {"model": "my-llama", **upstream},  # no price
        },
        "routes": {"default": ["small", "large"]},
        "retry": {"max_retries": 1, "backoff_s": 0.01, "max_backoff_s": 0.05},
        "cooldown": {"allowed_failures": 10, "cooldown_s": 1},
        "rate_limits": {"max_wait_s": 0},
        "keys": [
            {"name": "alice", "key_env": "ALICE_KEY"},
            {"name": "bob", "key_sha256": hashlib.sha256(b"sk-bob").hexdigest(), "rpm": 1},
            {"name": "carol", "key_env": "CAROL_KEY", "budget_usd": 0.001, "routes": ["small"]},
        ],
    }


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, db: SQLiteStore) -> AsyncIterator[Endpoint]:
    async with running_endpoint(gateway_config(upstream.base_url), db) as running:
        yield running


def models_called(upstream: FakeOpenAIServer) -> list[str]:
    return [body["model"] for body in upstream.bodies]


async def test_a_text_completion(endpoint: Endpoint, upstream: FakeOpenAIServer) -> None:
    upstream.enqueue(Completion(text="hello there", prompt_tokens=12, completion_tokens=3))
    system: ChatCompletionMessageParam = {"role": "system", "content": "be brief"}
    raw = await endpoint.client().chat.completions.with_raw_response.create(
        model="default", messages=[system, *HI], max_tokens=50
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "gpt-4o-mini"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 3)
    assert raw.headers["x-proctor-deployment"] == "small"
    assert raw.headers["x-proctor-cache"] == "miss"
    sent = upstream.bodies[0]
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, *HI]
    assert (sent["model"], sent["max_tokens"]) == ("gpt-4o-mini", 50)
    assert upstream.requests[0].headers["authorization"] == "Bearer upstream-secret"


async def test_tool_calls_round_trip_with_dotted_names(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    wanted = FakeToolCall(name="erp__fetch_po", id="c1", arguments='{"po": "PO-1"}')
    upstream.enqueue(Completion(text=None, tool_calls=[wanted]), Completion(text="PO-1 is paid"))
    client = endpoint.client()
    first = await client.chat.completions.create(model="small", messages=HI, tools=[FETCH_PO])
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls or []
    assert [(c.id, c.type) for c in calls] == [("c1", "function")]
    call = calls[0]
    assert call.type == "function"
    assert (call.function.name, call.function.arguments) == ("erp.fetch_po", '{"po":"PO-1"}')
    history: list[ChatCompletionMessageParam] = [
        *HI,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "paid"}'},
    ]
    second = await client.chat.completions.create(model="small", messages=history, tools=[FETCH_PO])
    assert second.choices[0].message.content == "PO-1 is paid"
    sent = upstream.bodies[1]
    assert sent["tools"][0]["function"]["name"] == "erp__fetch_po"  # OpenAI's allowed charset
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "erp__fetch_po"
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": '{"status": "paid"}',
    }


async def test_models_lists_the_routes_a_key_may_use(endpoint: Endpoint) -> None:
    everything = [m.id async for m in endpoint.client().models.list()]
    assert everything == ["default", "large", "local", "small"]
    assert [m.id async for m in endpoint.client("sk-carol").models.list()] == ["small"]


async def test_fallback_to_the_second_deployment(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(*[ErrorReply(status=500, message="boom")] * 2)
    raw = await endpoint.client().chat.completions.with_raw_response.create(
        model="default", messages=HI
    )
    assert raw.parse().model == "gpt-4o"
    assert raw.headers["x-proctor-deployment"] == "large"
    assert models_called(upstream) == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]


async def test_an_identical_request_is_served_from_the_cache(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    client = endpoint.client()
    first = await client.chat.completions.with_raw_response.create(model="small", messages=HI)
    second = await client.chat.completions.with_raw_response.create(model="small", messages=HI)
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert (first.headers["x-proctor-cache"], second.headers["x-proctor-cache"]) == ("miss", "hit")
    assert len(upstream.bodies) == 1
    assert float(second.headers["x-proctor-overhead-ms"]) >= 0
    assert float(second.headers["x-proctor-cost-usd"]) == 0


async def test_upstream_429_with_retry_after_is_retried(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(ErrorReply(status=429, message="slow down", retry_after=0.05))
    answer = await endpoint.client().chat.completions.create(model="small", messages=HI)
    assert answer.choices[0].message.content == "ok"
    assert models_called(upstream) == ["gpt-4o-mini", "gpt-4o-mini"]


async def test_a_missing_or_wrong_key_is_refused(endpoint: Endpoint) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        await endpoint.client("sk-mallory").chat.completions.create(model="small", messages=HI)
    assert wrong.value.code == "invalid_api_key"
    async with httpx2.AsyncClient() as http:
        missing = await http.post(f"{endpoint.base_url}/chat/completions", json={})
        listing = await http.get(f"{endpoint.base_url}/models")
    assert (missing.status_code, listing.status_code) == (401, 401)
    assert "Authorization: Bearer" in missing.json()["error"]["message"]


async def test_a_key_over_its_rate_limit_gets_429(endpoint: Endpoint) -> None:
    client = endpoint.client("sk-bob")
    await client.chat.completions.create(model="small", messages=say("one"))
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(model="small", messages=say("two"))
    assert refused.value.code == "rate_limit_exceeded"
    assert int(refused.value.response.headers["retry-after"]) > 0
    assert "key:bob" in refused.value.message


async def test_a_key_stops_at_its_budget(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    # Each answer costs $0.00075 at gpt-4o-mini's prices; carol may spend $0.001 a day.
    upstream.default = Completion(prompt_tokens=1000, completion_tokens=1000)
    client = endpoint.client("sk-carol")
    await client.chat.completions.create(model="small", messages=say("one"))
    with pytest.raises(openai.RateLimitError) as projected:  # would overspend what is left
        await client.chat.completions.create(model="small", messages=say("two"), max_tokens=9000)
    assert projected.value.code == "budget_exceeded"
    await client.chat.completions.create(model="small", messages=say("three"))  # fits
    with pytest.raises(openai.RateLimitError) as spent:
        await client.chat.completions.create(model="small", messages=say("four"))
    assert spent.value.code == "budget_exceeded"
    assert "spent its budget of $0.001" in spent.value.message
    assert len(upstream.bodies) == 2
    with pytest.raises(openai.PermissionDeniedError):  # not one of carol's routes
        await client.chat.completions.create(model="large", messages=HI)
    await endpoint.stop()
    assert await db.gateway_spend("carol", 0) == pytest.approx(0.0015)


async def test_unknown_model_is_404(endpoint: Endpoint) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        await endpoint.client().chat.completions.create(model="gpt-5", messages=HI)
    assert unknown.value.code == "model_not_found"
    assert "use one of default, large, local, small" in unknown.value.message


async def test_malformed_bodies_are_400_with_a_readable_error(endpoint: Endpoint) -> None:
    headers = {"authorization": "Bearer sk-alice"}
    async with httpx2.AsyncClient(headers=headers) as http:
        url = f"{endpoint.base_url}/chat/completions"
        not_json = await http.post(url, content=b"{not json")
        no_messages = await http.post(url, json={"model": "small"})
        bad_role = await http.post(url, json={"model": "small", "messages": [{"role": "robot"}]})
        unknown_path = await http.get(f"{endpoint.base_url}/engines")
    assert [r.status_code for r in (not_json, no_messages, bad_role)] == [400, 400, 400]
    assert "invalid request body" in not_json.json()["error"]["message"]
    assert "messages: Field required" in no_messages.json()["error"]["message"]
    assert "messages.0" in bad_role.json()["error"]["message"]
    assert bad_role.json()["error"]["type"] == "invalid_request_error"
    assert unknown_path.status_code == 404
    assert "error" in unknown_path.json()
    spaced: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {"name": "fetch po", "parameters": {"type": "object"}},
    }
    with pytest.raises(openai.BadRequestError) as bad_tool:
        await endpoint.client().chat.completions.create(model="small", messages=HI, tools=[spaced])
    assert "tool name 'fetch po' cannot be sent" in bad_tool.value.message


HUGE = 1180591620717411303424  # 2**70


@pytest.mark.parametrize(
    "extra",
    [
        {"max_tokens": HUGE},
        {"max_completion_tokens": HUGE},
        {"seed": HUGE},
        {"top_logprobs": -HUGE},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"m": HUGE}}}]},
        {"model": "small\u0000"},
    ],
    ids=["max_tokens", "max_completion_tokens", "seed", "top_logprobs", "tool", "nul"],
)
async def test_a_value_no_upstream_could_take_is_400_before_anything_is_sent(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore, extra: dict[str, Any]
) -> None:
    body = {"model": "small", "messages": HI, **extra}
    async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-alice"}) as http:
        # Python's json writes integers of any size, as a client in another language may.
        answer = await http.post(
            f"{endpoint.base_url}/chat/completions",
            content=json.dumps(body),
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("invalid request body: ")
    assert upstream.bodies == []
    await endpoint.stop()
    assert [row.status for row in await db.gateway_calls()] == [400]


async def test_every_upstream_failing_is_502_with_the_reason(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    upstream.enqueue(*[ErrorReply(status=503, message="overloaded")] * 4)
    with pytest.raises(openai.InternalServerError) as failed:
        await endpoint.client().chat.completions.create(model="default", messages=HI)
    assert failed.value.status_code == 502
    assert "every deployment of the route failed" in failed.value.message
    assert "Traceback" not in failed.value.message


async def test_every_call_is_in_the_ledger_with_its_cost(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    client = endpoint.client()
    upstream.enqueue(Completion(prompt_tokens=10, completion_tokens=5, cached_tokens=4))
    await client.chat.completions.create(model="small", messages=HI)
    await client.chat.completions.create(model="small", messages=HI)  # a cache hit
    await client.chat.completions.create(model="local", messages=HI)  # unpriced
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="nope", messages=HI)
    await endpoint.stop()  # drains the ledger's queue
    rows = list(reversed(await db.gateway_calls()))
    assert [(r.route, r.deployment, r.status, r.cache_hit, r.error) for r in rows] == [
        ("small", "small", 200, False, None),
        ("small", "small", 200, True, None),
        ("local", "local", 200, False, None),
        ("nope", None, 404, False, "model_not_found"),
    ]
    assert [r.cost_usd for r in rows] == [pytest.approx(4.2e-6), 0.0, None, None]
    assert all(r.key_name == "alice" and r.latency_ms > 0 for r in rows)
    assert (rows[0].input_tokens, rows[0].output_tokens) == (10, 5)
    assert (
        rows[0].cached_input_tokens == 4
    )  # priced at the cached rate: 6 x 0.15 + 4 x 0.075 + 5 x 0.6


async def test_a_budgeted_key_may_not_use_unpriced_models(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    config = gateway_config(upstream.base_url)
    config["keys"][2]["routes"] = None
    async with running_endpoint(config, db) as running:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await running.client("sk-carol").chat.completions.create(model="local", messages=HI)
    assert refused.value.code == "unpriced_model"
    assert "'my-llama'" in refused.value.message
    assert "Fix: add to proctor.yaml prices: {my-llama: {input:" in refused.value.message
    assert upstream.bodies == []


async def test_without_keys_loopback_callers_are_anonymous(
    upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    config = gateway_config(upstream.base_url)
    del config["keys"]
    async with running_endpoint(config, db) as running:
        answer = await running.client("anything").chat.completions.create(
            model="small", messages=HI
        )
        assert answer.choices[0].message.content == "ok"
    assert [row.key_name for row in await db.gateway_calls()] == ["anonymous"]


async def test_a_body_over_the_limit_is_413_without_reading_it_all(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_endpoint, "MAX_BODY_BYTES", 2_000)
    big = {"model": "small", "messages": [{"role": "user", "content": "x" * 5_000}]}

    async def chunked() -> AsyncIterator[bytes]:  # no content-length: counted as it comes
        for _ in range(10):
            yield b" " * 500

    headers = {"authorization": "Bearer sk-alice"}
    async with httpx2.AsyncClient(headers=headers) as http:
        url = f"{endpoint.base_url}/chat/completions"
        declared = await http.post(url, json=big)
        streamed = await http.post(url, content=chunked())
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "request_too_large"
        assert "more than this gateway accepts (2,000)" in answer.json()["error"]["message"]


async def test_calls_that_cannot_be_recorded_are_refused_with_503(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_endpoint, "MAX_UNWRITTEN_CALLS", 0)

    with pytest.raises(openai.InternalServerError) as refused:
        await endpoint.client().chat.completions.create(model="small", messages=HI)

    assert refused.value.status_code == 503
    assert "cannot record calls" in refused.value.message
    assert refused.value.response.headers["retry-after"] == "5"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("messages", {"max_tokens": 5, "messages": HI}),
        ("responses", {"input": "hi"}),
        ("embeddings", {"input": "hi"}),
    ],
)
async def test_every_api_refuses_a_route_name_with_a_control_character(
    endpoint: Endpoint, upstream: FakeOpenAIServer, path: str, body: dict[str, Any]
) -> None:
    async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-alice"}) as http:
        answer = await http.post(
            f"{endpoint.base_url}/{path}", json={"model": "sm\u0000all", **body}
        )
    assert answer.status_code == 400, answer.text
    assert "no control characters" in answer.text
    assert upstream.bodies == []
