"""``/api/v1/runs``: starting runs, reading one, its events, and the list's filters."""

from __future__ import annotations

import time
from typing import Any

import pytest

from proctor.examples import invoice
from server.api_harness import Api, error_of


def test_a_started_run_answers_202_with_its_location_and_runs_in_the_background(
    api: Api,
) -> None:
    body = {"workflow": "invoice_reconciliation", "input": invoice.sample_input("clean")}
    response = api.post("/api/v1/runs", body, role="operator")
    assert response.status_code == 202, response.text
    started = response.json()
    run_id = started["run_id"]
    assert response.headers["location"] == f"/api/v1/runs/{run_id}"
    assert started["workflow"] == "invoice_reconciliation"
    assert started["tenant"] == "acme"
    assert started["started_by"] == "acme-operator"
    assert started["model"] == "scripted:procedure"  # the workflow's default

    run = api.settled(run_id)
    assert (run["status"], run["outcome"]) == ("finished", "resolved")
    assert run["contract_hash"] == invoice.contract().content_hash
    assert run["contract_version"] == "1"
    assert run["pending_approval"] is None
    assert run["finished_at"] is not None
    assert run["started_at"].endswith("Z")
    totals = run["totals"]
    assert totals["tool_calls"] == 5
    assert totals["model_calls"] >= 5
    assert totals["tokens"] == totals["input_tokens"] + totals["output_tokens"] > 0
    assert totals["cost_usd"] > 0
    assert totals["duration_s"] > 0


def test_a_run_waiting_for_approval_names_the_approval(api: Api) -> None:
    run_id = api.start("over_threshold", model="scripted:procedure")
    run = api.settled(run_id)
    assert run["status"] == "awaiting_approval"
    [pending] = api.get("/api/v1/approvals").json()["approvals"]
    assert run["pending_approval"] == pending["approval_id"]
    listed = api.get("/api/v1/runs", status="awaiting_approval").json()["runs"]
    assert [r["pending_approval"] for r in listed] == [pending["approval_id"]]


def test_an_unknown_workflow_is_a_bad_request_listing_the_known_ones(api: Api) -> None:
    response = api.post("/api/v1/runs", {"workflow": "refundz", "input": {}}, role="operator")
    code, message = error_of(response, 400)
    assert code == "bad_request"
    assert "refundz" in message
    assert "invoice_reconciliation" in message


def test_an_unknown_model_is_a_bad_request(api: Api) -> None:
    body = {"workflow": "invoice_reconciliation", "input": {}, "model": "scripted:nope"}
    code, message = error_of(api.post("/api/v1/runs", body, role="operator"), 400)
    assert code == "bad_request"
    assert "scripted:procedure" in message  # the known ones


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"input": {}}, "workflow: Field required"),
        ({"workflow": "invoice_reconciliation"}, "input: Field required"),
        ({"workflow": "invoice_reconciliation", "input": [1, 2]}, "input: Input should be"),
        ({"workflow": "", "input": {}}, "workflow: String should have at least 1 character"),
        ({"workflow": "w", "input": {}, "modle": "x"}, "modle: Extra inputs are not permitted"),
    ],
)
def test_a_malformed_body_names_the_field(api: Api, body: dict[str, Any], names: str) -> None:
    code, message = error_of(api.post("/api/v1/runs", body, role="operator"), 400)
    assert code == "invalid_request"
    assert names in message


def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    response = api.client.post(
        "/api/v1/runs",
        content=b"{not json",
        headers={**api.auth("operator"), "content-type": "application/json"},
    )
    assert error_of(response, 400)[0] == "invalid_request"


def test_a_missing_run_is_not_found(api: Api) -> None:
    code, message = error_of(api.get("/api/v1/runs/run_0000000000000000"), 404)
    assert code == "not_found"
    assert "run_0000000000000000" in message
    assert error_of(api.get("/api/v1/runs/run_0000000000000000/events"), 404)[0] == "not_found"


def test_events_come_in_pages_with_their_content_as_stored(api: Api) -> None:
    run_id = api.start("clean")
    api.settled(run_id)
    whole = api.get(f"/api/v1/runs/{run_id}/events", role="viewer").json()
    assert whole["next_after"] is None
    events = whole["events"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "run_started"
    assert events[0]["content"]["input"]["vendor_id"] == invoice.sample_input("clean")["vendor_id"]
    assert events[-1]["type"] == "run_finished"
    assert events[-1]["meta"]["outcome"] == "resolved"
    assert set(events[0]) == {
        "seq",
        "type",
        "ts",
        "span_id",
        "parent_span_id",
        "meta",
        "content",
        "hash",
    }

    paged: list[dict[str, Any]] = []
    after = -1
    while True:
        page = api.get(f"/api/v1/runs/{run_id}/events", after=after, limit=7).json()
        paged += page["events"]
        assert len(page["events"]) <= 7
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert paged == events
    tail = api.get(f"/api/v1/runs/{run_id}/events", after=len(events) - 3).json()
    assert [e["seq"] for e in tail["events"]] == [len(events) - 2, len(events) - 1]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"after": -2}, "after"),
        ({"after": "x"}, "after"),
    ],
)
def test_event_paging_parameters_are_checked(api: Api, params: dict[str, Any], names: str) -> None:
    run_id = api.start("clean")
    code, message = error_of(api.get(f"/api/v1/runs/{run_id}/events", **params), 400)
    assert code == "invalid_request"
    assert f"query.{names}" in message


def test_purged_content_reads_as_null(api: Api) -> None:
    run_id = api.start("clean")
    api.settled(run_id)
    api.call(lambda: api.store.purge_payloads(run_id, at=time.time(), reason="retention"))
    events = api.get(f"/api/v1/runs/{run_id}/events").json()["events"]
    assert events[0]["content"] is None  # the run's input
    assert all(not event["content"] for event in events)  # events without content keep {}
    assert events[-1]["meta"]["outcome"] == "resolved"  # metadata survives a purge
