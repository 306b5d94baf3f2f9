"""What operators watch on the gateway endpoint: ``/metrics`` and each call's GenAI span.

The app is served in process (httpx's ASGI transport, no lifespan: the ledger writes each
row at once) in front of a fake upstream client, so no socket or thread is involved.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from proctor.endpoint import CallLedger, create_app
from proctor.gateway import (
    CallSettings,
    GatewayConfig,
    Message,
    ModelCallError,
    ModelResponse,
    ToolSpec,
    build_gateway,
)
from proctor.store import MemoryStore, Usage
from proctor.telemetry import configure_live_export, reset_live_export


@dataclass
class Upstream:
    """A model that answers with fixed usage, or fails while ``failing``."""

    model: str = "gpt-4o-mini"
    failing: bool = False
    calls: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        self.calls.append(len(messages))
        if self.failing:
            raise ModelCallError("upstream down", kind="server_error", status=500)
        usage = Usage(
            input_tokens=100,
            output_tokens=20,
            cached_input_tokens=40,
            cache_write_tokens=10,
            reasoning_tokens=5,
        )
        return ModelResponse(model=self.model, text="hello", usage=usage)


def config() -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "models": {
                "small": {"model": "gpt-4o-mini", "api_key_env": "UNUSED_KEY"},
                "flaky": {"model": "gpt-4o", "api_key_env": "UNUSED_KEY"},
            },
            "routes": {"default": ["small"]},
            "retry": {"max_retries": 0},
            "cooldown": {"allowed_failures": 1, "cooldown_s": 60},
            "keys": [
                {"name": "alice", "key_sha256": hashlib.sha256(b"sk-alice").hexdigest()},
                {
                    "name": "carol",
                    "key_sha256": hashlib.sha256(b"sk-carol").hexdigest(),
                    "budget_usd": 2,
                    "routes": ["default"],
                },
            ],
        }
    )


@dataclass
class Served:
    app: Starlette
    http: httpx2.AsyncClient
    flaky: Upstream

    async def chat(self, key: str, model: str, text: str = "hi") -> httpx2.Response:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
        body["temperature"] = 0  # cacheable
        return await self.http.post(
            "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        )

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of ``/metrics`` (fetched without a key), by name and labels."""
        answer = await self.http.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    flaky = Upstream(model="gpt-4o", failing=True)
    clients = {"small": Upstream(), "flaky": flaky}
    store = MemoryStore()
    settings = config()
    gateway = build_gateway(settings, store, clients=clients)
    app = create_app(gateway, settings, store, ledger=CallLedger(store, flush_after_s=0))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Served(app=app, http=http, flaky=flaky)
    await gateway.aclose()


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


async def test_calls_are_counted_by_key_route_and_status(served: Served) -> None:
    assert (await served.chat("sk-alice", "default")).status_code == 200
    await served.app.state.endpoint.gateway.flush()  # the answer is in the cache
    assert (await served.chat("sk-alice", "default")).headers["x-proctor-cache"] == "hit"
    assert (await served.chat("sk-carol", "small")).status_code == 403  # not its route
    assert (await served.chat("sk-alice", "no-such-model")).status_code == 404
    assert (await served.chat("sk-nobody", "default")).status_code == 401  # not counted

    found = await served.metrics()
    requests = {k[1]: v for k, v in found.items() if k[0] == "proctor_gateway_requests_total"}
    assert requests == {
        labels(key="alice", route="default", status="200"): 2,
        labels(key="carol", route="small", status="403"): 1,
        # A name that is no route makes no series of its own.
        labels(key="alice", route="(unknown)", status="404"): 1,
    }
    tokens = {
        dict(k[1])["type"]: v
        for k, v in found.items()
        if k[0] == "proctor_gateway_tokens_total"
        and dict(k[1])["key"] == "alice"
        and dict(k[1])["route"] == "default"
    }
    # The cache hit answers with the stored usage, and counts it again.
    assert tokens == {"input": 200, "output": 40, "cached": 80, "cache_write": 20, "reasoning": 10}
    hits = found["proctor_gateway_cache_hits_total", labels(key="alice", route="default")]
    assert hits == 1
    cost = found["proctor_gateway_cost_usd_total", labels(key="alice", route="default")]
    assert 0 < cost < 0.001  # gpt-4o-mini's shipped price; a hit costs nothing
    count = found["proctor_gateway_request_duration_seconds_count", labels(route="default")]
    inf = found[
        "proctor_gateway_request_duration_seconds_bucket", labels(route="default", le="+Inf")
    ]
    assert count == inf == 2


async def test_gauges_are_read_at_scrape_time(served: Served) -> None:
    before = await served.metrics()
    assert before["proctor_gateway_budget_usd", labels(key="carol")] == 2
    assert before["proctor_gateway_budget_remaining_usd", labels(key="carol")] == 2
    assert ("proctor_gateway_budget_usd", labels(key="alice")) not in before  # no budget
    closed = labels(deployment="flaky", state="closed")
    assert before["proctor_gateway_circuit_state", closed] == 1
    assert before["proctor_gateway_ledger_unwritten_calls", ()] == 0

    assert (await served.chat("sk-carol", "default")).status_code == 200
    assert (await served.chat("sk-alice", "flaky")).status_code == 502
    after = await served.metrics()
    assert after["proctor_gateway_budget_remaining_usd", labels(key="carol")] < 2
    states = {
        dict(k[1])["state"]: v
        for k, v in after.items()
        if k[0] == "proctor_gateway_circuit_state" and dict(k[1])["deployment"] == "flaky"
    }
    assert states == {"closed": 0, "open": 1, "half_open": 0}
    assert after["proctor_gateway_circuit_failures", labels(deployment="flaky")] == 1
    assert after["proctor_gateway_circuit_state", labels(deployment="small", state="closed")] == 1


async def test_each_app_has_its_own_registry(served: Served) -> None:
    assert (await served.chat("sk-alice", "default")).status_code == 200
    store = MemoryStore()
    settings = config()
    clients = {"small": Upstream(), "flaky": Upstream()}
    other = create_app(build_gateway(settings, store, clients=clients), settings, store)
    transport = httpx2.ASGITransport(app=other)
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
        text = (await http.get("/metrics")).text
    assert "proctor_gateway_requests_total{" not in text
    assert 'key="alice"' in (await served.http.get("/metrics")).text


async def test_openmetrics_is_served_when_asked(served: Served) -> None:
    answer = await served.http.get(
        "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    configure_live_export(processor=SimpleSpanProcessor(exporter))
    yield exporter
    reset_live_export()


async def test_each_call_is_a_genai_span(spans: InMemorySpanExporter, served: Served) -> None:
    assert (await served.chat("sk-alice", "default")).status_code == 200
    assert (await served.chat("sk-alice", "flaky")).status_code == 502
    endpoint = served.app.state.endpoint
    assert endpoint.spans is not None
    assert spans.get_finished_spans() == ()  # nothing is made on the request's path
    endpoint.spans.flush()  # what the event loop does a few milliseconds later

    ok, failed = spans.get_finished_spans()
    assert ok.name == "chat default"
    assert ok.kind.name == "CLIENT"
    assert ok.status.status_code.name == "UNSET"
    attrs = dict(ok.attributes or {})
    cost = attrs.pop("proctor.cost_usd")
    assert isinstance(cost, float)
    assert cost > 0
    assert attrs.pop("gen_ai.usage.cost") == attrs.pop("llm.cost.total") == cost
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "default",
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 40,
        "gen_ai.usage.cache_creation.input_tokens": 10,
        "gen_ai.usage.reasoning.output_tokens": 5,
        "llm.model_name": "gpt-4o-mini",  # what Phoenix prices the call by
        "llm.token_count.completion_details.reasoning": 5,
        "proctor.key": "alice",
        "proctor.route": "default",
        "proctor.deployment": "small",
        "proctor.cache_hit": False,
        "proctor.http.status": 200,
    }
    assert ok.start_time is not None
    assert ok.end_time is not None
    assert 0 <= ok.end_time - ok.start_time < 10**9
    assert ok.context is not None
    assert failed.context is not None
    assert ok.context.trace_id != failed.context.trace_id  # a trace per call

    assert failed.name == "chat flaky"
    assert failed.status.status_code.name == "ERROR"
    failed_attrs = dict(failed.attributes or {})
    assert failed_attrs["proctor.http.status"] == 502
    assert failed_attrs["error.type"] == "server_error"
    assert failed_attrs["gen_ai.provider.name"] == "openai"
    assert "proctor.deployment" not in failed_attrs


async def test_no_spans_are_gathered_when_export_is_off(served: Served) -> None:
    assert served.app.state.endpoint.spans is None
