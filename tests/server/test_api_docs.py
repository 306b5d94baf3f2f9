"""``/docs`` works offline (Swagger UI from the server's own assets) and ``/openapi.json``
describes every endpoint, its schemas, errors and the Bearer key."""

from __future__ import annotations

import re

from server.api_harness import Api


def test_the_docs_page_loads_nothing_from_elsewhere(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.findall(r"https?://", page.text), "the page must not reach out (offline)"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text
    for asset in assets:
        assert asset.startswith("/"), asset
        response = api.client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 0, asset
    assert "validatorUrl" in page.text  # no badge from validator.swagger.io


def test_openapi_lists_every_endpoint_with_schemas_and_the_bearer_key(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method in item
    }
    assert operations == {
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/runs"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/runs/{run_id}"),
        ("GET", "/api/v1/runs/{run_id}/events"),
        ("GET", "/api/v1/runs/{run_id}/events/stream"),
        ("GET", "/api/v1/runs/{run_id}/turns"),
        ("GET", "/api/v1/runs/{run_id}/turns/{turn}/context"),
        ("GET", "/api/v1/approvals"),
        ("GET", "/api/v1/approvals/{approval_id}"),
        ("POST", "/api/v1/approvals/{approval_id}/approve"),
        ("POST", "/api/v1/approvals/{approval_id}/deny"),
        ("GET", "/api/v1/reports"),
        ("GET", "/api/v1/evals"),
        ("GET", "/api/v1/evals/{result_id}"),
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/{key_id}"),
        ("GET", "/api/v1/gateway/usage"),
    }
    schemas = spec["components"]["schemas"]
    for name in ("StartRun", "RunSummary", "RunPage", "EventPage", "ApprovalOut", "ErrorBody"):
        assert name in schemas, name
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert spec["security"] == [{"apiKey": []}]
    start = spec["paths"]["/api/v1/runs"]["post"]
    assert "202" in start["responses"]
    assert {"401", "403", "404"} <= set(start["responses"])
    stream = spec["paths"]["/api/v1/runs/{run_id}/events/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]


ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def test_openapi_lists_the_errors_each_operation_answers_with_their_body(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    answers = {
        (method.upper(), path): operation["responses"]
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
    }
    for operation, responses in answers.items():
        # Any request: a bad value or Host, no key, a method the path lacks, a body too large.
        assert {"400", "401", "405", "413"} <= set(responses), operation
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_BODY, (operation, status)
                assert response["description"], (operation, status)
        assert "422" not in responses or operation == ("POST", "/api/v1/runs"), operation
    for operation in (
        ("POST", "/api/v1/runs"),
        ("POST", "/api/v1/approvals/{approval_id}/approve"),
        ("POST", "/api/v1/approvals/{approval_id}/deny"),
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/{key_id}"),
    ):
        assert "403" in answers[operation], operation
    for operation in (
        ("POST", "/api/v1/approvals/{approval_id}/approve"),
        ("POST", "/api/v1/approvals/{approval_id}/deny"),
        ("DELETE", "/api/v1/keys/{key_id}"),
    ):
        assert "409" in answers[operation], operation
    for operation in answers:
        if "{" in operation[1]:
            assert "404" in answers[operation], operation
    assert "HTTPValidationError" not in spec["components"]["schemas"]
