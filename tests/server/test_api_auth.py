"""Who may call the API: a valid, unrevoked Bearer key, and only what its role allows.
Every refusal is the JSON error shape, with a stable code and a message naming the fix."""

from __future__ import annotations

import pytest

from server.api_harness import Api, error_of

START = {"workflow": "invoice_reconciliation", "input": {"vendor_id": "V-1"}}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-proctor-key"},
        {"Authorization": "Bearer prk_00000000_unknownunknownunknownunknown"},
    ],
    ids=["no key", "basic scheme", "empty bearer", "not a prk key", "unknown key"],
)
def test_a_request_without_a_valid_key_is_unauthenticated(
    api: Api, headers: dict[str, str]
) -> None:
    response = api.client.get("/api/v1/runs", headers=headers)
    code, message = error_of(response, 401)
    assert code == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    assert "key" in message


def test_every_api_endpoint_needs_a_key(api: Api) -> None:
    paths = [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/runs"),
        ("POST", "/api/v1/runs"),
        ("GET", "/api/v1/runs/run_x"),
        ("GET", "/api/v1/runs/run_x/events"),
        ("GET", "/api/v1/runs/run_x/events/stream"),
        ("GET", "/api/v1/runs/run_x/turns"),
        ("GET", "/api/v1/runs/run_x/turns/1/context"),
        ("GET", "/api/v1/approvals"),
        ("GET", "/api/v1/approvals/ap_x"),
        ("POST", "/api/v1/approvals/ap_x/approve"),
        ("POST", "/api/v1/approvals/ap_x/deny"),
        ("GET", "/api/v1/reports"),
        ("GET", "/api/v1/evals"),
        ("GET", "/api/v1/evals/evr_x"),
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/key_x"),
        ("GET", "/api/v1/gateway/usage"),
    ]
    documented = {
        (method.upper(), path.replace("{run_id}", "run_x"))
        for path, item in api.client.get("/openapi.json").json()["paths"].items()
        for method in item
        if path.startswith("/api/")
    }
    assert len(documented) == len(paths)  # a new endpoint joins this list
    for method, path in paths:
        response = api.client.request(method, path)
        assert error_of(response, 401)[0] == "unauthenticated", (method, path)


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    token = api.add_key("viewer", "acme", "leaver")
    assert api.get("/api/v1/me", role="leaver").status_code == 200
    key_id = api.records["acme", "leaver"].key_id
    assert api.delete(f"/api/v1/keys/{key_id}").status_code == 200
    response = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    code, message = error_of(response, 401)
    assert code == "unauthenticated"
    assert f"{key_id} was revoked" in message


def test_me_names_the_key_its_role_and_tenant(api: Api) -> None:
    response = api.get("/api/v1/me", role="approver", tenant="globex")
    assert response.status_code == 200
    me = response.json()
    assert me["name"] == "globex-approver"
    assert (me["role"], me["tenant"]) == ("approver", "globex")
    assert me["key_id"].startswith("key_")
    assert set(me) == {"key_id", "name", "holder", "role", "tenant"}


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_only_operators_and_admins_start_runs(api: Api, role: str) -> None:
    code, message = error_of(api.post("/api/v1/runs", START, role=role), 403)
    assert code == "forbidden"
    assert f"role {role!r}, which may not start runs" in message
    assert "operator or admin" in message


@pytest.mark.parametrize("role", ["viewer", "operator"])
@pytest.mark.parametrize("verdict", ["approve", "deny"])
def test_only_approvers_and_admins_decide(api: Api, role: str, verdict: str) -> None:
    response = api.post(f"/api/v1/approvals/ap_000000000000/{verdict}", {"reason": "no"}, role)
    code, message = error_of(response, 403)
    assert code == "forbidden"
    assert "may not decide approvals" in message
    assert "approver or admin" in message


@pytest.mark.parametrize("role", ["viewer", "operator", "approver"])
def test_only_admins_manage_keys(api: Api, role: str) -> None:
    for response in (
        api.get("/api/v1/keys", role=role),
        api.post("/api/v1/keys", {"role": "viewer"}, role=role),
        api.delete(f"/api/v1/keys/{api.records['acme', 'viewer'].key_id}", role=role),
    ):
        code, message = error_of(response, 403)
        assert code == "forbidden"
        assert "may not manage API keys" in message
    # Refused means not done: the viewer key still works, and no key was added.
    assert api.get("/api/v1/me", role="viewer").status_code == 200
    assert len(api.get("/api/v1/keys").json()["keys"]) == 4


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "admin"])
def test_every_role_reads(api: Api, role: str) -> None:
    for path in ("/api/v1/runs", "/api/v1/approvals", "/api/v1/reports", "/api/v1/evals"):
        assert api.get(path, role=role).status_code == 200, path


def test_unknown_endpoints_and_methods_answer_json_errors(api: Api) -> None:
    code, message = error_of(api.get("/api/v1/nope"), 404)
    assert code == "not_found"
    assert "/docs" in message
    code, _ = error_of(api.client.put("/api/v1/runs", headers=api.auth()), 405)
    assert code == "method_not_allowed"


def test_a_session_cookie_changes_nothing_from_another_site(api: Api) -> None:
    # The UI's cookie also authenticates API calls; a write must come from our own pages.
    client = api.client
    signed = client.post(
        "/login",
        data={"key": api.keys["acme", "admin"]},
        headers={"origin": "https://testserver"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert client.get("/api/v1/me").json()["tenant"] == "acme"  # reads need no origin
    forged = client.post("/api/v1/approvals/ap_x/approve", json={})
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "forbidden"
    elsewhere = client.post(
        "/api/v1/approvals/ap_x/approve", json={}, headers={"origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    own = client.post(
        "/api/v1/approvals/ap_x/approve", json={}, headers={"origin": "https://testserver"}
    )
    assert own.status_code == 404  # past authentication: there is no such approval
    client.cookies.clear()
