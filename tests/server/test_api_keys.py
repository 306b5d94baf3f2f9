"""``/api/v1/keys``: an admin lists, creates and revokes its own tenant's keys; a key is
shown once, and no answer ever holds a digest."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.server import key_digest
from server.api_harness import Api, error_of


def test_an_admin_lists_its_tenants_keys_without_digests(api: Api) -> None:
    response = api.get("/api/v1/keys")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert sorted(k["name"] for k in keys) == [
        "acme-admin",
        "acme-approver",
        "acme-operator",
        "acme-viewer",
    ]
    assert set(keys[0]) == {
        "key_id",
        "name",
        "holder",
        "role",
        "tenant",
        "created_at",
        "revoked_at",
    }
    for tenant_role, record in api.records.items():
        assert record.secret_hash not in response.text, tenant_role


def test_a_created_key_is_shown_once_and_works_in_the_admins_tenant(api: Api) -> None:
    response = api.post("/api/v1/keys", {"role": "operator", "name": "ci-bot"})
    assert response.status_code == 201, response.text
    created = response.json()
    token = created["key"]
    assert token.startswith("prk_")
    assert (created["role"], created["tenant"], created["name"]) == ("operator", "acme", "ci-bot")
    assert created["revoked_at"] is None
    assert key_digest(token) not in response.text

    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {
        "key_id": created["key_id"],
        "name": "ci-bot",
        "holder": "acme-admin",  # no holder named: the admin minted it for itself
        "role": "operator",
        "tenant": "acme",
    }
    listed = api.get("/api/v1/keys").json()["keys"]
    assert created["key_id"] in {k["key_id"] for k in listed}
    assert all("key" not in k for k in listed)  # shown once: never listed


def test_a_key_without_a_name_is_named_by_its_id(api: Api) -> None:
    created = api.post("/api/v1/keys", {"role": "viewer"}, tenant="globex").json()
    assert created["name"] == created["key_id"]
    assert created["tenant"] == "globex"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"role": "root"}, "role: Input should be 'viewer', 'operator', 'approver' or 'admin'"),
        ({}, "role: Field required"),
        ({"role": "viewer", "tenant": "globex"}, "tenant: Extra inputs are not permitted"),
        ({"role": "viewer", "name": ""}, "name: String should have at least 1 character"),
    ],
)
def test_a_bad_key_request_names_the_problem(api: Api, body: dict[str, Any], names: str) -> None:
    code, message = error_of(api.post("/api/v1/keys", body), 400)
    assert code == "invalid_request"
    assert names in message


def test_revoking_a_key_ends_it_and_is_shown_in_the_list(api: Api) -> None:
    key_id = api.records["acme", "operator"].key_id
    response = api.delete(f"/api/v1/keys/{key_id}")
    assert response.status_code == 200, response.text
    revoked = response.json()
    assert revoked["key_id"] == key_id
    assert revoked["revoked_at"] is not None
    listed = {k["key_id"]: k for k in api.get("/api/v1/keys").json()["keys"]}
    assert listed[key_id]["revoked_at"] == revoked["revoked_at"]
    assert error_of(api.get("/api/v1/me", role="operator"), 401)[0] == "unauthenticated"
    # Revoking again keeps the first time.
    assert api.delete(f"/api/v1/keys/{key_id}").json()["revoked_at"] == revoked["revoked_at"]


def test_revoking_an_unknown_key_is_not_found(api: Api) -> None:
    code, message = error_of(api.delete("/api/v1/keys/key_00000000"), 404)
    assert code == "not_found"
    assert "key_00000000" in message
