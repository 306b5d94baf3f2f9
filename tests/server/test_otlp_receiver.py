"""``POST /v1/traces``: an agent's OTLP spans become observed runs of a workflow."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from server.api_harness import Api

EXAMPLE = (
    Path(__file__).parents[2] / "examples" / "observed_traces" / "hasty-invoice-agent.otlp.json"
)
HEADERS = {"x-proctor-workflow": "invoice_reconciliation"}


def _request() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return loaded


def _post(api: Api, body: bytes, *, role: str = "operator", **headers: str) -> Any:
    sent = {**api.auth(role, "acme"), "content-type": "application/json", **headers}
    return api.client.post("/v1/traces", content=body, headers=sent)


def test_a_trace_becomes_an_observed_run_with_what_the_contract_would_refuse(api: Api) -> None:
    response = _post(api, json.dumps(_request()).encode(), **HEADERS)
    assert response.status_code == 200, response.text
    warning = response.json()["partialSuccess"]["errorMessage"]
    assert "erp.create_payment [ordering.erp.create_payment]" in warning
    [run] = api.get("/api/v1/runs", role="viewer").json()["runs"]
    assert run["model"] == "observed:pydantic-ai"
    assert run["outcome"] == "escalated"
    assert run["tenant"] == "acme"
    assert api.get("/api/v1/runs", role="viewer", tenant="globex").json()["runs"] == []


def test_spans_of_one_trace_over_two_requests_wait_for_the_root(api: Api) -> None:
    first, second = _request(), _request()
    spans = first["resourceSpans"][0]["scopeSpans"][0]["spans"]
    first["resourceSpans"][0]["scopeSpans"][0]["spans"] = [
        s for s in spans if s.get("parentSpanId")
    ]
    second["resourceSpans"][0]["scopeSpans"][0]["spans"] = [
        s for s in spans if not s.get("parentSpanId")
    ]
    assert _post(api, json.dumps(first).encode(), **HEADERS).json() == {}
    assert api.get("/api/v1/runs").json()["runs"] == []
    assert "partialSuccess" in _post(api, json.dumps(second).encode(), **HEADERS).json()
    assert len(api.get("/api/v1/runs").json()["runs"]) == 1


def test_the_workflow_may_come_from_the_resource(api: Api) -> None:
    request = copy.deepcopy(_request())
    request["resourceSpans"][0]["resource"]["attributes"].append(
        {"key": "proctor.workflow", "value": {"stringValue": "invoice_reconciliation"}}
    )
    assert _post(api, json.dumps(request).encode()).status_code == 200
    assert len(api.get("/api/v1/runs").json()["runs"]) == 1


def test_refusals_are_otlp_statuses(api: Api) -> None:
    body = json.dumps(_request()).encode()
    unnamed = _post(api, body)
    assert unnamed.status_code == 400
    assert unnamed.json()["code"] == 3
    assert "x-proctor-workflow" in unnamed.json()["message"]
    unknown = _post(api, body, **{"x-proctor-workflow": "nope"})
    assert unknown.status_code in (400, 404)
    assert "nope" in unknown.json()["message"]
    assert _post(api, body, role="viewer", **HEADERS).status_code == 403
    assert api.client.post("/v1/traces", content=body).status_code == 401
    garbled = _post(api, b"{nope", **HEADERS)
    assert garbled.status_code == 400
    assert "not JSON" in garbled.json()["message"]


def test_protobuf_bodies_get_protobuf_answers(api: Api) -> None:
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    def b64(node: Any) -> Any:  # OTLP JSON ids are hex; protobuf's JSON mapping is base64
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId")
                else b64(v)
                for k, v in node.items()
            }
        return [b64(v) for v in node] if isinstance(node, list) else node

    message = ParseDict(b64(_request()), ExportTraceServiceRequest())
    response = _post(
        api,
        message.SerializeToString(),
        **{**HEADERS, "content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.content
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert "ordering.erp.create_payment" in answer.partial_success.error_message
    [run] = api.get("/api/v1/runs").json()["runs"]
    # The web UI lists it like any run, its model saying what it is.
    origin = {"origin": "https://testserver"}
    login = {"key": api.keys["acme", "viewer"]}
    signed = api.client.post("/login", data=login, headers=origin, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    page = api.client.get("/runs")
    assert page.status_code == 200
    assert run["run_id"] in page.text
    assert "observed:pydantic-ai" in page.text
