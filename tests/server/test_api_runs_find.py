"""``/api/v1/runs`` finding runs: sessions given at start and filtered by, search, sort
orders with their own cursors, and totals for the filters; documented in the schema."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from proctor.examples import invoice
from proctor.server import _service
from proctor.server._serve import build_app
from proctor.store import SQLiteStore
from server.api_harness import Api, error_of
from support.drift_runs import record_run


def ids(page: dict[str, Any]) -> list[str]:
    return [run["run_id"] for run in page["runs"]]


def start(api: Api, sample: str, session: str | None, tenant: str = "acme") -> str:
    body: dict[str, Any] = {
        "workflow": "invoice_reconciliation",
        "input": invoice.sample_input(sample),
    }
    if session is not None:
        body["session"] = session
    response = api.post("/api/v1/runs", body, role="operator", tenant=tenant)
    assert response.status_code == 202, response.text
    assert response.json()["session"] == session
    run_id: str = response.json()["run_id"]
    api.settled(run_id, tenant=tenant)
    return run_id


def test_runs_started_in_a_session_are_read_together(api: Api) -> None:
    first = start(api, "clean", "chat-7")
    second = start(api, "over_threshold", "chat-7")
    start(api, "clean", None)
    start(api, "clean", "chat-7", tenant="globex")  # the same key, another tenant
    page = api.get("/api/v1/runs", role="viewer", session="chat-7", sort="started").json()
    assert ids(page) == [first, second]
    assert [run["session"] for run in page["runs"]] == ["chat-7", "chat-7"]
    assert api.get(f"/api/v1/runs/{first}", role="viewer").json()["session"] == "chat-7"
    newest = api.get("/api/v1/runs", role="viewer", session="chat-7").json()
    assert ids(newest) == [second, first]


@pytest.mark.parametrize(
    ("session", "says"),
    [("chat 7", "characters a session key cannot"), ("x" * 129, "more than 128"), ("", "empty")],
)
def test_a_bad_session_key_is_refused_with_the_fix(api: Api, session: str, says: str) -> None:
    body = {"workflow": "invoice_reconciliation", "input": {}, "session": session}
    _, message = error_of(api.post("/api/v1/runs", body, role="operator"), 400)
    assert says in message
    _, listed = error_of(api.get("/api/v1/runs", session=session or "-"), 400)
    assert "session key" in listed


def test_search_and_totals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    paid = start(api, "clean", None)
    waiting = start(api, "over_threshold", None)
    found = api.get("/api/v1/runs", role="viewer", search="northwind", totals="true").json()
    assert ids(found) == [waiting]
    summary = api.get(f"/api/v1/runs/{waiting}", role="viewer").json()["totals"]
    assert found["totals"] == {
        "capped": False,
        "runs": 1,
        "cost_usd": summary["cost_usd"],
        "cost_unknown": 0,
        "input_tokens": summary["input_tokens"],
        "output_tokens": summary["output_tokens"],
        "tokens": summary["tokens"],
    }
    assert ids(api.get("/api/v1/runs", search="PAID invoice").json()) == [paid]
    assert ids(api.get("/api/v1/runs", search=paid[:12]).json()) == [paid]  # an id prefix
    assert ids(api.get("/api/v1/runs", search="run_").json()) == [waiting, paid]
    assert api.get("/api/v1/runs").json()["totals"] is None  # only when asked
    everything = api.get("/api/v1/runs", totals="true", limit=1).json()
    assert everything["totals"]["runs"] == 2  # every page's runs, not this one's
    assert everything["totals"]["capped"] is False
    monkeypatch.setattr(_service, "TOTALS_CAP", 1)
    whole = api.get("/api/v1/runs", totals="true").json()["totals"]  # the page holds them all
    assert (whole["runs"], whole["capped"]) == (2, False)
    newest = api.get("/api/v1/runs", totals="true", limit=1).json()["totals"]
    assert (newest["runs"], newest["capped"]) == (1, True)
    _, message = error_of(api.get("/api/v1/runs", search="x" * 201), 400)
    assert "more than 200" in message


def test_each_order_pages_with_its_own_cursor(api: Api) -> None:
    now = time.time()
    costs = [0.3, None, 0.1, 0.3, 0.2]
    made = [
        api.call(
            partial(
                record_run,
                api.store,
                invoice.contract(),
                cost=cost,
                duration_s=float(n),
                started_at=now - 60 + n,
                tenant="acme",
            )
        )
        for n, cost in enumerate(costs)
    ]
    by_cost = sorted(
        range(len(made)),
        key=lambda n: (-1.0 if costs[n] is None else costs[n], made[n]),
        reverse=True,
    )
    pages: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"sort": "-cost", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = api.get("/api/v1/runs", role="viewer", **params).json()
        pages += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [made[n] for n in by_cost]
    assert ids(api.get("/api/v1/runs", sort="duration").json()) == made
    cost_cursor = api.get("/api/v1/runs", sort="-cost", limit=1).json()["next_cursor"]
    _, message = error_of(api.get("/api/v1/runs", sort="duration", cursor=cost_cursor), 400)
    assert "same sort" in message
    _, message = error_of(api.get("/api/v1/runs", sort="price"), 400)
    assert "-cost" in message


def test_the_schema_documents_finding_runs(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    listing = schema["paths"]["/api/v1/runs"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    for name in ("session", "search", "sort", "totals"):
        assert params[name].get("description"), name
    sorts = schema["components"]["schemas"]
    start_body = sorts["StartRun"]["properties"]["session"]
    assert "session key" in start_body["description"]
    assert "session" in sorts["RunSummary"]["properties"]
    assert "totals" in sorts["RunPage"]["properties"]


def test_the_server_keeps_a_sqlite_stores_search_index_from_its_start(tmp_path: Path) -> None:
    """Not from its first write: a server that only reads still indexes runs queued by
    an upgrade or by other processes."""
    store = SQLiteStore(tmp_path / "s.db")
    with TestClient(build_app(store, home=tmp_path)):
        assert store.indexer is not None
        assert store.indexer.is_alive()
        assert store.checkpointer is not None
    asyncio.run(store.close())
    assert not store.indexer
