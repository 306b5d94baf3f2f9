"""``POST /v1/embeddings`` over real HTTP with the official ``openai`` client: floats,
base64 passed through, token arrays, the ledger, a budgeted key, and what is refused."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest

from proctor.gateway import ScriptedModel, Turn
from proctor.store import SQLiteStore
from support.fake_embeddings import vector
from support.fake_openai import FakeOpenAIServer
from support.http_endpoint import Endpoint, running_endpoint

EMBED = "text-embedding-3-small"


def config(base_url: str) -> dict[str, Any]:
    upstream = {"base_url": base_url, "api_key_env": "FAKE_UPSTREAM_KEY"}
    return {
        "models": {
            "embed": {"model": EMBED, **upstream},
            "scripted": {"provider": "scripted", "model": "demo"},
        },
        "prices": {"dear-embedding": {"input": 1_000_000, "output": 0}},  # $1 a token
        "keys": [
            {"name": "alice", "key_env": "ALICE_KEY"},
            {"name": "carol", "key_env": "CAROL_KEY", "budget_usd": 5, "routes": ["dear"]},
        ],
    }


@pytest.fixture
async def endpoint(upstream: FakeOpenAIServer, db: SQLiteStore) -> AsyncIterator[Endpoint]:
    raw = config(upstream.base_url)
    dear = {**raw["models"]["embed"], "model": "dear-embedding"}
    raw["models"]["dear"] = dear
    scripted = ScriptedModel(scenario="demo", script=[Turn(text="hi")])
    async with running_endpoint(raw, db, clients={"scripted": scripted}) as running:
        yield running


async def test_floats_the_sdks_default_base64_and_raw_base64(
    endpoint: Endpoint, upstream: FakeOpenAIServer
) -> None:
    client = endpoint.client()
    floats = await client.embeddings.create(
        model="embed", input=["a cat", "a dog"], encoding_format="float", dimensions=3
    )
    assert [d.embedding for d in floats.data] == [vector(0, 3), vector(1, 3)]
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.model == EMBED
    assert (floats.usage.prompt_tokens, floats.usage.total_tokens) == (4, 4)

    # Without encoding_format the SDK asks for base64 and decodes it: what the gateway
    # relays must be the upstream's string, byte for byte.
    decoded = await client.embeddings.create(model="embed", input="one two three")
    assert decoded.data[0].embedding == vector(0)
    raw = await client.embeddings.create(
        model="embed", input=[[1, 2], [3]], encoding_format="base64"
    )
    packed = base64.b64decode(raw.data[1].embedding)  # type: ignore[arg-type]
    assert list(struct.unpack("<4f", packed)) == vector(1)

    sent = upstream.embedding_bodies
    assert sent[0] == {
        "model": EMBED,
        "input": ["a cat", "a dog"],
        "dimensions": 3,
        "encoding_format": "float",
    }
    assert sent[1]["encoding_format"] == "base64"
    assert sent[2]["input"] == [[1, 2], [3]]


async def test_embeddings_are_in_the_ledger_with_their_cost(
    endpoint: Endpoint, db: SQLiteStore
) -> None:
    answer = await endpoint.client().embeddings.with_raw_response.create(
        model="embed", input="one two three four", user="u-7"
    )
    assert answer.headers["x-proctor-deployment"] == "embed"
    assert float(answer.headers["x-proctor-cost-usd"]) == pytest.approx(4 * 0.02 / 1e6)
    await endpoint.stop()  # drains the ledger's queue
    [row] = await db.gateway_calls()
    assert (row.key_name, row.route, row.model, row.status) == ("alice", "embed", EMBED, 200)
    assert (row.input_tokens, row.output_tokens) == (4, 0)
    assert row.cost_usd == pytest.approx(4 * 0.02 / 1e6)


async def test_a_budgeted_key_is_held_to_its_budget(
    endpoint: Endpoint, upstream: FakeOpenAIServer, db: SQLiteStore
) -> None:
    client = endpoint.client("sk-carol")
    await client.embeddings.create(model="dear", input="one two three")  # $3 of $5
    with pytest.raises(openai.RateLimitError) as refused:
        await client.embeddings.create(model="dear", input="one two three")
    assert refused.value.code == "budget_exceeded"
    assert len(upstream.embedding_bodies) == 1  # refused before sending
    with pytest.raises(openai.PermissionDeniedError) as elsewhere:
        await client.embeddings.create(model="embed", input="x")
    assert elsewhere.value.code == "route_not_allowed"


async def test_a_route_that_cannot_embed_is_a_400_naming_it(endpoint: Endpoint) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await endpoint.client().embeddings.create(model="scripted", input="hi")
    assert "route 'scripted' cannot embed" in refused.value.message
    assert "Fix:" in refused.value.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": "embed", "input": []}, "input: must be a text, a list of texts"),
        ({"model": "embed", "input": [1, "a"]}, "input: must be"),
        ({"model": "embed", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "embed", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x"}, "model"),
    ],
)
async def test_bad_requests_name_the_field(
    endpoint: Endpoint, upstream: FakeOpenAIServer, body: dict[str, Any], says: str
) -> None:
    async with httpx2.AsyncClient(headers={"authorization": "Bearer sk-alice"}) as http:
        answer = await http.post(f"{endpoint.base_url}/embeddings", json=body)
    assert answer.status_code == 400
    assert says in answer.json()["error"]["message"]
    assert upstream.embedding_bodies == []


async def test_an_unknown_route_is_404(endpoint: Endpoint) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await endpoint.client().embeddings.create(model="nope", input="x")
    assert missing.value.code == "model_not_found"
