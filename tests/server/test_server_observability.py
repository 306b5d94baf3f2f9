"""What operators watch on ``proctor serve``: ``/metrics``, and the gateway's spend (API
and page). The store is seeded directly (ledger rows, a queued run); nothing runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from proctor.server import create_api_key, create_server
from proctor.store import GatewayCallRecord, QueueItem, SQLiteStore

ORIGIN = {"Origin": "https://testserver"}
NOW = time.time()


@dataclass
class Served:
    client: TestClient
    keys: dict[str, str]

    def get(self, path: str, who: str | None = None, **params: str) -> httpx2.Response:
        headers = {} if who is None else {"Authorization": f"Bearer {self.keys[who]}"}
        query = params or None  # an empty mapping would drop a query written in the path
        return self.client.get(path, headers=headers, params=query, follow_redirects=False)

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        answer = self.get("/metrics")
        assert answer.status_code == 200, answer.text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }


async def seed(store: SQLiteStore) -> dict[str, str]:
    calls = [
        GatewayCallRecord(
            ts=NOW - 60,
            key_name=key,
            route="default",
            deployment="small",
            model=model,
            input_tokens=100,
            output_tokens=10,
            cost_usd=cost,
            latency_ms=20.0,
        )
        for key, model, cost in (
            ("team-a", "gpt-4o-mini", 0.25),
            ("team-a", "gpt-4o", 1.5),
            ("ci", "gpt-4o-mini", 0.5),
        )
    ]
    await store.record_gateway_calls(calls)
    await store.enqueue(
        QueueItem(run_id="run_queued", workflow="refunds", input={}, submitted_at=NOW)
    )
    keys = {}
    for name, role, tenant in (
        ("viewer", "viewer", "default"),
        ("other", "admin", "globex"),
    ):
        _, keys[name] = await create_api_key(store, role=role, tenant=tenant, name=name)
    return keys


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = SQLiteStore(tmp_path / "server.db")
    keys = asyncio.run(seed(store))
    app = create_server(store, session_secret="s" * 40, allowed_hosts=["testserver"])
    try:
        with TestClient(app, base_url="https://testserver") as client:
            yield Served(client=client, keys=keys)
    finally:
        asyncio.run(store.close())


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def test_metrics_count_requests_by_route_template(served: Served) -> None:
    run = served.get("/api/v1/runs/run_nope", "viewer")
    assert run.status_code == 404
    assert served.get("/api/v1/runs", "viewer").status_code == 200
    assert served.get("/api/v1/runs").status_code == 401  # refused before any route
    assert served.get("/no/such/page").status_code == 404
    assert served.client.request("BREW", "/metrics").status_code == 405

    found = served.samples()
    requests = {
        dict(k[1])["route"] + " " + dict(k[1])["status"]: v
        for k, v in found.items()
        if k[0] == "proctor_http_requests_total"
    }
    assert requests["/api/v1/runs/{run_id} 404"] == 1  # the template, not the id
    assert requests["/api/v1/runs 200"] == 1
    assert requests["(unmatched) 401"] == 1
    assert requests["(unmatched) 404"] == 1
    methods = {dict(k[1])["method"] for k in found if k[0] == "proctor_http_requests_total"}
    assert methods == {"GET", "OTHER"}  # a made-up method makes no series of its own
    count = found[
        "proctor_http_request_duration_seconds_count",
        labels(method="GET", route="/api/v1/runs"),
    ]
    assert count == 1


def test_metrics_gauges_come_from_the_store(served: Served) -> None:
    found = served.samples()
    assert found["proctor_queue_items", labels(state="queued")] == 1
    assert found["proctor_queue_items", labels(state="claimed")] == 0
    assert found["proctor_runs", labels(status="running")] == 0
    assert found["proctor_approvals_pending", ()] == 0


def test_gateway_usage_api(served: Served) -> None:
    answer = served.get("/api/v1/gateway/usage", "viewer", by="model")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["by"] == ["model"]
    assert [(r["model"], r["calls"], r["cost_usd"]) for r in body["rows"]] == [
        ("gpt-4o", 1, 1.5),
        ("gpt-4o-mini", 2, 0.75),
    ]
    assert body["rows"][0]["key"] is None
    one = served.get("/api/v1/gateway/usage", "viewer", key="ci").json()
    assert [(r["key"], r["cost_usd"]) for r in one["rows"]] == [("ci", 0.5)]
    assert served.get("/api/v1/gateway/usage", "viewer", by="tenant").status_code == 400
    assert served.get("/api/v1/gateway/usage", "viewer", since="later").status_code == 400
    assert served.get("/api/v1/gateway/usage").status_code == 401


def test_gateway_usage_is_the_default_tenants(served: Served) -> None:
    refused = served.get("/api/v1/gateway/usage", "other")
    assert refused.status_code == 403
    assert "belongs to the installation, not to tenant 'globex'" in refused.text


def test_gateway_page(served: Served) -> None:
    signed = served.client.post(
        "/login", data={"key": served.keys["viewer"]}, headers=ORIGIN, follow_redirects=False
    )
    assert signed.status_code == 303
    page = served.get("/gateway")
    assert page.status_code == 200, page.text
    assert '<a href="/gateway" aria-current="page">Gateway</a>' in page.text
    assert '<th scope="row" class="clip" title="team-a">team-a</th>' in page.text
    by_day = served.get("/gateway?by=day&since=30d")
    assert by_day.status_code == 200
    assert time.strftime("%Y-%m-%d", time.gmtime(NOW - 60)) in by_day.text
    assert served.get("/gateway?by=colour").status_code == 400
    assert 'href="/gateway"' in served.get("/runs").text  # linked in the nav

    served.client.cookies.clear()
    other = served.client.post(
        "/login", data={"key": served.keys["other"]}, headers=ORIGIN, follow_redirects=False
    )
    assert other.status_code == 303
    assert 'href="/gateway"' not in served.get("/runs").text
    assert served.get("/gateway").status_code == 403
