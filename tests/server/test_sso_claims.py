"""What an ID token's claims make of a person: name, roles and tenants by proctor.yaml's
``sso:`` mapping (no provider needed: the claims are given)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from proctor.errors import AccessDenied
from proctor.gateway import SsoConfig
from proctor.server._keys import Principal, person_identity
from proctor.server._sso import OidcClient, SignInRefused
from proctor.store import SessionRecord

ISSUER = "https://keycloak.example.com/realms/acme"


def client(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> OidcClient:
    monkeypatch.setenv("OIDC_SECRET", "s")
    config = SsoConfig.model_validate(
        {"issuer": ISSUER, "client_id": "proctor", "client_secret_env": "OIDC_SECRET", **settings}
    )
    return OidcClient(config, "flow-secret")


def test_roles_come_from_a_nested_claim_through_the_map(monkeypatch: pytest.MonkeyPatch) -> None:
    sso = client(
        monkeypatch,
        roles={
            "claim": "realm_access.roles",
            "map": {"ops": "operator", "finance": "approver"},
        },
    )
    claims = {
        "iss": ISSUER,
        "sub": "f2c1",
        "preferred_username": "alice",
        "email": "alice@example.com",
        "realm_access": {"roles": ["finance", "offline_access", "ops"]},
    }
    person = sso.person(claims)
    assert (person.name, person.subject, person.role) == (
        "alice@example.com",
        "f2c1",
        "operator+approver",
    )
    assert person.tenants == ("default",)  # no tenant claim configured
    assert person.groups == ("finance", "offline_access", "ops")


def test_without_a_map_claim_values_that_name_roles_are_roles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sso = client(monkeypatch, roles={"claim": "proctor_role"}, name_claim=["nickname"])
    person = sso.person({"iss": ISSUER, "sub": "u1", "proctor_role": "approver"})
    assert person.roles == ("approver",)
    assert person.name == "u1"  # no nickname: the subject shows who it is
    assert sso.person({"iss": ISSUER, "sub": "u2", "proctor_role": ["root"]}).roles == ()


def test_tenants_come_from_their_claim_mapped_or_as_named(monkeypatch: pytest.MonkeyPatch) -> None:
    mapped = client(
        monkeypatch,
        tenants={"claim": "org", "map": {"Acme Corp": "acme", "Globex": "globex"}, "default": None},
    )
    assert mapped.person({"sub": "a", "org": ["Globex", "Acme Corp", "Globex"]}).tenants == (
        "globex",
        "acme",
    )
    assert mapped.person({"sub": "a", "org": "Initech"}).tenants == ()  # refused: no default
    as_named = client(monkeypatch, tenants={"claim": "org"})
    assert as_named.person({"sub": "a", "org": "acme"}).tenants == ("acme",)
    assert mapped.person({"sub": "a", "org": "Acme Corp"}).tenants == ("acme",)  # one value
    assert as_named.person({"sub": "a"}).tenants == ("default",)
    with pytest.raises(SignInRefused, match="'Acme Corp', which is not a tenant name") as refused:
        as_named.person({"sub": "a", "org": ["Acme Corp"]})
    assert refused.value.status == 403


def test_bad_settings_are_refused_with_the_key() -> None:
    base = {"issuer": ISSUER, "client_id": "proctor", "client_secret_env": "S"}
    with pytest.raises(ValidationError, match="not a tenant name"):
        SsoConfig.model_validate({**base, "tenants": {"map": {"x": "no spaces"}}})
    with pytest.raises(ValidationError, match=r"roles\.map\.ops"):
        SsoConfig.model_validate({**base, "roles": {"map": {"ops": "root"}}})
    with pytest.raises(ValidationError, match="issuer"):
        SsoConfig.model_validate({**base, "issuer": "keycloak.example.com"})
    assert SsoConfig.model_validate({**base, "scopes": ["email"]}).scopes == ["openid", "email"]


def test_a_person_is_recorded_and_compared_by_issuer_and_subject() -> None:
    session = SessionRecord(
        session_id="d" * 64,
        key_id="",
        created_at=1.0,
        expires_at=2.0,
        issuer=ISSUER,
        subject="f2c1",
        name="alice@example.com",
        role="operator+approver",
        tenant="acme",
    )
    alice = Principal.of_session(session)
    assert alice.holder == person_identity("alice@example.com", ISSUER, "f2c1")
    assert alice.can("start")
    assert alice.can("decide")
    assert not alice.can("keys")
    assert alice.started(f"Alice <{ISSUER}#f2c1>")  # renamed at the provider: still her
    assert not alice.started("alice@example.com")  # an API key holder of that name is not
    with pytest.raises(AccessDenied, match=r"alice@example.com \(signed in with single sign-on\)"):
        alice.require("keys")
