"""Embeddings: the OpenAI clients' ``embed`` against the fake upstream, and ``Gateway.embed``
(retries, fallback to the same model only, cooldown, budget, price, a route that cannot
embed). Time is fake in the routing tests, so none waits.
"""

from __future__ import annotations

import base64
import struct
from collections import deque
from collections.abc import Iterator

import pytest

from proctor.gateway import (
    EmbeddingClient,
    Embeddings,
    EmbedRequest,
    EmbedSettings,
    Gateway,
    GatewayError,
    OpenAIModel,
    Price,
    ScriptedModel,
    Turn,
)
from proctor.gateway._deployment import Deployment
from proctor.gateway._embeddings import EmbeddingInput, input_tokens
from proctor.gateway._errors import ModelCallError
from proctor.gateway.providers import LeanOpenAIModel
from proctor.store import ModelAttemptFailed, Usage
from support.fake_embeddings import vector
from support.fake_openai import ErrorReply, FakeOpenAIServer
from support.router_fakes import FakeTime, make_router


@pytest.fixture
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def clients(base_url: str) -> list[EmbeddingClient]:
    return [
        LeanOpenAIModel("text-embedding-3-small", base_url=base_url, api_key="k"),
        OpenAIModel("text-embedding-3-small", base_url=base_url, api_key="k"),
    ]


async def test_both_openai_clients_embed_texts_as_floats(upstream: FakeOpenAIServer) -> None:
    for client in clients(upstream.base_url):
        answer = await client.embed(["a cat", "a dog sat"], settings=EmbedSettings(dimensions=3))
        assert answer.vectors == [vector(0, 3), vector(1, 3)]  # sorted by index
        assert answer.usage == Usage(input_tokens=5)
        assert answer.model == "text-embedding-3-small"
        await client.aclose()  # type: ignore[attr-defined]
    lean, sdk = upstream.embedding_bodies
    assert lean == {
        "model": "text-embedding-3-small",
        "input": ["a cat", "a dog sat"],
        "dimensions": 3,
    }
    # The SDK would ask for base64 and decode it itself: the client names float.
    assert sdk == {**lean, "encoding_format": "float"}


async def test_base64_token_arrays_user_and_extra_pass_through(
    upstream: FakeOpenAIServer,
) -> None:
    settings = EmbedSettings(encoding_format="base64", user="u-1", extra={"input_type": "query"})
    for client in clients(upstream.base_url):
        answer = await client.embed([[1, 2, 3], [4]], settings=settings)
        encoded = answer.vectors[1]
        assert isinstance(encoded, str)  # the upstream's string, untouched
        packed = base64.b64decode(encoded)
        assert list(struct.unpack("<4f", packed)) == vector(1)
        assert answer.usage.input_tokens == 4
        await client.aclose()  # type: ignore[attr-defined]
    for body in upstream.embedding_bodies:
        assert body["input"] == [[1, 2, 3], [4]]
        assert (body["encoding_format"], body["user"], body["input_type"]) == (
            "base64",
            "u-1",
            "query",
        )


async def test_embedding_errors_are_classified_like_completions(
    upstream: FakeOpenAIServer,
) -> None:
    for client in clients(upstream.base_url):
        upstream.enqueue_embeddings(ErrorReply(status=429, message="slow down", retry_after=3))
        with pytest.raises(ModelCallError) as caught:
            await client.embed("hi")
        assert (caught.value.kind, caught.value.retry_after_s) == ("rate_limited", 3)
        await client.aclose()  # type: ignore[attr-defined]


def test_input_tokens_counts_texts_and_token_arrays() -> None:
    assert input_tokens([[1, 2, 3], [4]]) == 4
    assert input_tokens([5, 6]) == 2
    assert input_tokens(["hello", "hello"]) == 2 * input_tokens("hello") > 0


# Gateway.embed -------------------------------------------------------------------------


class FakeEmbedder:
    """An ``EmbeddingClient`` answering from a script of outcomes, then one vector per input."""

    def __init__(self, name: str, *outcomes: BaseException) -> None:
        self._name = name
        self.outcomes: deque[BaseException] = deque(outcomes)
        self.calls: list[EmbedSettings | None] = []

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("an embeddings call never completes")

    async def embed(
        self, inputs: EmbeddingInput, *, settings: EmbedSettings | None = None
    ) -> Embeddings:
        self.calls.append(settings)
        if self.outcomes:
            raise self.outcomes.popleft()
        count = 1 if isinstance(inputs, str) else len(inputs)
        return Embeddings(
            vectors=[[float(i)] for i in range(count)],
            usage=Usage(input_tokens=1000),
            model=self._name,
        )


def embedder(name: str, model: str, *outcomes: BaseException) -> Deployment:
    return Deployment(name=name, client=FakeEmbedder(name, *outcomes), model=model, timeout_s=7)  # type: ignore[arg-type]


def gateway(time: FakeTime, *deployments: Deployment, allowed_failures: int = 3) -> Gateway:
    return Gateway(
        deployments={d.name: d for d in deployments},
        routes={"embed": [d.name for d in deployments]},
        default_route="embed",
        router=make_router(time, allowed_failures=allowed_failures),
    )


def embed_calls(d: Deployment) -> int:
    assert isinstance(d.client, FakeEmbedder)
    return len(d.client.calls)


def server_error() -> ModelCallError:
    return ModelCallError("the upstream failed", kind="server_error", status=500)


async def test_embed_retries_then_answers_priced() -> None:
    time = FakeTime()
    a = embedder("a", "text-embedding-3-small", server_error())
    result = await gateway(time, a).embed(
        EmbedRequest(inputs=["x", "y"], route="embed", settings=EmbedSettings(dimensions=8))
    )
    assert result.embeddings.vectors == [[0.0], [1.0]]
    assert result.deployment == "a"
    assert result.cost_usd == pytest.approx(1000 * 0.02 / 1e6)  # the shipped price
    [failed] = [e for e in result.events if isinstance(e, ModelAttemptFailed)]
    assert (failed.kind, failed.action) == ("server_error", "retry")
    assert isinstance(a.client, FakeEmbedder)
    # The deployment's timeout travels with the caller's settings.
    assert a.client.calls[-1] == EmbedSettings(dimensions=8, timeout_s=7)


async def test_embed_falls_back_only_to_the_same_model() -> None:
    time = FakeTime()
    a = embedder("a", "text-embedding-3-small", *[server_error()] * 3)
    same = embedder("same", "text-embedding-3-small")
    other = embedder("other", "text-embedding-3-large")
    result = await gateway(time, a, other, same).embed(EmbedRequest(inputs="x"))
    assert result.deployment == "same"
    assert embed_calls(other) == 0

    lone = embedder("lone", "text-embedding-3-small", *[server_error()] * 3)
    with pytest.raises(GatewayError) as caught:
        await gateway(time, lone, embedder("big", "text-embedding-3-large")).embed(
            EmbedRequest(inputs="x")
        )
    assert caught.value.kind == "server_error"


async def test_a_failing_embedder_cools_down() -> None:
    time = FakeTime()
    a = embedder("a", "m", *[server_error()] * 9)
    gw = gateway(time, a, allowed_failures=2)
    with pytest.raises(GatewayError):
        await gw.embed(EmbedRequest(inputs="x"))
    with pytest.raises(GatewayError, match="cooling down"):
        await gw.embed(EmbedRequest(inputs="x"))
    assert embed_calls(a) == 2


async def test_embeddings_and_completions_cool_down_apart() -> None:
    time = FakeTime()
    a = embedder("a", "gpt-4o-mini", ModelCallError("no such model", kind="not_found", status=404))
    gw = gateway(time, a)
    with pytest.raises(GatewayError):
        await gw.embed(EmbedRequest(inputs="x"))
    assert gw.router.embed_breaker.is_open("a")
    # A chat model asked to embed by mistake keeps answering chat.
    assert not gw.router.breaker.is_open("a")


async def test_a_route_that_cannot_embed_is_refused_naming_it() -> None:
    gw = Gateway.single(ScriptedModel(scenario="demo", script=[Turn(text="hi")]))
    with pytest.raises(GatewayError) as caught:
        await gw.embed(EmbedRequest(inputs="x"))
    assert caught.value.kind == "bad_request"
    assert f"route {gw.default_route!r} cannot embed" in str(caught.value)
    assert "Fix:" in str(caught.value)


async def test_embed_is_refused_over_budget_before_sending() -> None:
    time = FakeTime()
    a = embedder("a", "priced")
    gw = gateway(time, a)
    gw.prices = type(gw.prices)({"priced": Price(input_per_million=1e6, output_per_million=0)})
    with pytest.raises(GatewayError) as caught:
        await gw.embed(EmbedRequest(inputs="hello there", budget_usd=0.5))
    assert caught.value.kind == "budget"
    assert embed_calls(a) == 0
