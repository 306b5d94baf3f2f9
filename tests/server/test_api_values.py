"""Every value the API cannot use is a 400 in the JSON error shape: integers beyond 64 bits
or below their range, times and cursors no clock can hold, ids with NUL or of any length,
bodies that are not JSON objects, run input JSON cannot record. Never a 500, never a
traceback in the server's log, and nothing stored."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from proctor.examples import invoice
from server.api_harness import Api, error_of, record_run

HUGE = 1180591620717411303424  # 2**70


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.WARNING):
        yield
    logged = [record for record in caplog.records if record.exc_info]
    assert not logged, [record.getMessage() for record in logged]


@pytest.fixture
def run_id(api: Api) -> str:
    return api.call(lambda: record_run(api.store))


def cursor(*position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/events", {"after": HUGE}, {}),
        ("/events", {"after": -2}, {}),
        ("/events", {"limit": HUGE}, {}),
        ("/events/stream", {"after": HUGE}, {}),
        ("/events/stream", {}, {"Last-Event-ID": str(HUGE)}),
        ("/events/stream", {}, {"Last-Event-ID": "-5"}),
        ("/events/stream", {}, {"Last-Event-ID": "1_0"}),
    ],
    ids=[
        "after-huge",
        "after-negative",
        "limit-huge",
        "stream-after-huge",
        "last-event-id-huge",
        "last-event-id-negative",
        "last-event-id-underscore",
    ],
)
def test_a_seq_or_count_out_of_range_is_400(
    api: Api, run_id: str, path: str, params: dict[str, Any], headers: dict[str, str]
) -> None:
    response = api.client.get(
        f"/api/v1/runs/{run_id}{path}", params=params, headers={**api.auth(), **headers}
    )
    code, _ = error_of(response, 400)
    assert code in ("invalid_request", "bad_request")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/runs", {"limit": HUGE}),
        ("/api/v1/evals", {"limit": -HUGE}),
        ("/api/v1/reports", {"since": "99999999999999999999d"}),
        ("/api/v1/reports", {"since": "0001-01-01T00:00+01:00"}),
        ("/api/v1/runs", {"until": "99999999999999999999d"}),
        ("/api/v1/runs", {"cursor": cursor(HUGE**20, "run_x")}),
        ("/api/v1/runs", {"cursor": base64.urlsafe_b64encode(b'[NaN, "run_x"]').decode()}),
        ("/api/v1/runs", {"cursor": cursor(1.0, "run_\x00")}),
        ("/api/v1/runs", {"workflow": "invoice\x00"}),
        ("/api/v1/runs", {"workflow": "w" * 10_000}),
        ("/api/v1/runs/run%00x", {}),
        ("/api/v1/runs/" + "r" * 10_000, {}),
        ("/api/v1/approvals/" + "a" * 10_000, {}),
        ("/api/v1/evals/evr%00", {}),
    ],
    ids=[
        "runs-limit",
        "evals-limit",
        "since-age",
        "since-year-0",
        "until-age",
        "cursor-huge",
        "cursor-nan",
        "cursor-nul",
        "filter-nul",
        "filter-huge",
        "id-nul",
        "run-id-huge",
        "approval-id-huge",
        "eval-id-nul",
    ],
)
def test_a_query_or_id_no_store_could_hold_is_400(
    api: Api, path: str, params: dict[str, Any]
) -> None:
    code, message = error_of(api.get(path, **params), 400)
    assert code in ("invalid_request", "bad_request")
    assert len(message) < 1000  # a huge value is not echoed back


def start(api: Api, body: bytes | dict[str, Any], role: str = "operator") -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**api.auth(role), "content-type": "application/json"}
    return api.client.post("/api/v1/runs", content=content, headers=headers)


INPUT = b'{"workflow": "invoice_reconciliation", "input": {"vendor_id": %s}}'


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (INPUT % b"NaN", "input.vendor_id is nan"),
        (INPUT % b"-Infinity", "input.vendor_id is -inf"),
        (INPUT % str(HUGE).encode(), "integer beyond 64 bits"),
        (INPUT % b'"\\ud800"', "lone surrogate"),
        (INPUT % (b"[" * 200 + b"]" * 200), "nested more than 128 levels"),
        (INPUT % (b"9" * 5000), "could not be read as JSON"),
        (b"[1, 2]", "valid dictionary"),
        (b"not json", "the body is not JSON"),
        (b'{"workflow": "w", "input": {}, "tenant": "globex"}', "tenant: Extra inputs"),
        (b'{"workflow": "w" , "input": []}', "input: Input should be a valid dictionary"),
        (b'{"workflow": "invoice_reconciliation", "input": {}, "model": "m\\u0000"}', "NUL"),
        (json.dumps({"workflow": "w" * 10_000, "input": {}}).encode(), "at most 200"),
    ],
    ids=[
        "nan",
        "infinity",
        "huge-int",
        "surrogate",
        "deep",
        "long-number",
        "array",
        "not-json",
        "unknown-field",
        "input-array",
        "nul-model",
        "huge-workflow",
    ],
)
def test_a_body_no_run_could_record_is_400_and_starts_nothing(
    api: Api, body: bytes, names: str
) -> None:
    code, message = error_of(start(api, body), 400)
    assert code == "invalid_request"
    assert names in message
    assert api.get("/api/v1/runs").json()["runs"] == []


@pytest.mark.parametrize("workflow", [":x", "..:x", "sys:exit"])
def test_a_workflow_name_that_cannot_be_loaded_is_4xx(api: Api, workflow: str) -> None:
    response = start(api, {"workflow": workflow, "input": {}})
    assert 400 <= response.status_code < 500, response.text
    error_of(response, response.status_code)
    assert api.get("/api/v1/runs").json()["runs"] == []


def test_names_and_reasons_the_store_cannot_keep_are_400(api: Api) -> None:
    created = api.post("/api/v1/keys", {"role": "viewer", "name": "bad\x00name"})
    assert "NUL" in error_of(created, 400)[1]
    run = start(
        api, {"workflow": "invoice_reconciliation", "input": invoice.sample_input("over_threshold")}
    )
    approval_id = api.settled(run.json()["run_id"])["pending_approval"]
    for reason in ("held\x00", "\ud800"):
        body = json.dumps({"reason": reason}).encode()
        response = api.client.post(
            f"/api/v1/approvals/{approval_id}/deny",
            content=body,
            headers={**api.auth("approver"), "content-type": "application/json"},
        )
        assert error_of(response, 400)[0] == "invalid_request"
    assert api.get(f"/api/v1/approvals/{approval_id}").json()["status"] == "pending"
    assert len(api.get("/api/v1/keys").json()["keys"]) == 4
