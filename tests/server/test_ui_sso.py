"""Single sign-on to the web UI against a real OpenID provider (oidc-provider, on loopback).

The browser's side at Proctor is a ``TestClient`` over the app (its cookie jar is the
browser's); at the provider it is a plain HTTP client that fills in the provider's sign-in
form. The server's own calls (discovery, keys, token) go to the provider over loopback.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import orjson
import pytest
from fastapi.testclient import TestClient

from proctor.errors import ConfigError
from proctor.examples import invoice
from proctor.gateway import SsoConfig
from proctor.server import create_api_key
from proctor.server._serve import build_app, session_secret
from proctor.server._sso import FLOW_COOKIE, Flow, OidcClient, SignInRefused
from proctor.store import SQLiteStore
from server.oidc_support import (
    APP_BASE,
    REDIRECT_URI,
    SECRET,
    SECRET_ENV,
    Issuers,
    log_in_at_provider,
    running_provider,
    sso_yaml,
)

ORIGIN = {"Origin": APP_BASE}  # what the UI's own pages send with a form or a fetch


@pytest.fixture(scope="module")
def issuers() -> Iterator[Issuers]:
    with running_provider() as found:
        yield found


@pytest.fixture
def config(tmp_path: Path, issuers: Issuers, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    path = tmp_path / "proctor.yaml"
    path.write_text(sso_yaml(issuers.main))
    return path


def serve(db: SQLiteStore, home: Path, config: Path) -> TestClient:
    app = build_app(db, home=home, config=str(config), allowed_hosts=["testserver"])
    return TestClient(app, base_url=APP_BASE, follow_redirects=False)


@pytest.fixture
def browser(db: SQLiteStore, proctor_home: Path, config: Path) -> Iterator[TestClient]:
    with serve(db, proctor_home, config) as client:
        yield client


def callback_url(client: TestClient, login: str, **params: str) -> str:
    """Start a sign-in at Proctor and sign in at the provider as ``login``."""
    started = client.get("/login/sso", params={"next": "/runs", **params})
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith("http://127.0.0.1:")
    return log_in_at_provider(started.headers["location"], login)


def sign_in(client: TestClient, login: str, **params: str) -> httpx2.Response:
    return client.get(callback_url(client, login, **params))


def me(client: TestClient) -> Any:
    found = client.get("/api/v1/me")
    assert found.status_code == 200, found.text
    return found.json()


def test_a_person_signs_in_with_the_roles_and_tenant_their_claims_map_to(
    browser: TestClient, issuers: Issuers, db: SQLiteStore
) -> None:
    login_page = browser.get("/login")
    assert "Sign in with Test IdP" in login_page.text
    assert 'name="key"' in login_page.text  # API keys still sign in too

    signed_in = sign_in(browser, "alice")

    assert signed_in.status_code == 200, signed_in.text
    assert 'http-equiv="refresh" content="0;url=/runs"' in signed_in.text
    assert FLOW_COOKIE not in browser.cookies  # the flow is used up
    assert me(browser) == {
        "key_id": "",
        "name": "alice@example.com",
        "holder": f"alice@example.com <{issuers.main}#alice>",
        "role": "operator+approver",
        "tenant": "acme",
    }
    runs = browser.get("/runs")
    assert runs.status_code == 200
    assert "alice@example.com" in runs.text
    assert "operator+approver" in runs.text


def test_a_person_in_several_tenants_chooses_one(browser: TestClient) -> None:
    chooser = sign_in(browser, "dana")
    assert chooser.status_code == 200
    assert "Choose a tenant" in chooser.text
    link = "/login/sso?" + urlencode({"tenant": "globex", "next": "/runs"}).replace("&", "&amp;")
    assert link in chooser.text
    assert me_status(browser) == 401  # no session until a tenant is chosen

    signed_in = sign_in(browser, "dana", tenant="globex")
    assert signed_in.status_code == 200, signed_in.text
    assert (me(browser)["tenant"], me(browser)["role"]) == ("globex", "admin")


def me_status(client: TestClient) -> int:
    return client.get("/api/v1/me").status_code


def test_a_person_without_a_mapped_role_is_refused_with_a_page_that_says_why(
    browser: TestClient,
) -> None:
    refused = sign_in(browser, "carol")

    assert refused.status_code == 403
    assert "Signed in, but not allowed" in refused.text
    assert "You signed in as carol@example.com" in refused.text
    assert "marketing" in refused.text  # what their claim held
    assert "proctor-approvers → approver" in refused.text  # and what would map
    assert "proctor_session" not in browser.cookies
    assert me_status(browser) == 401


def test_a_forged_or_expired_state_is_refused(
    browser: TestClient, proctor_home: Path, issuers: Issuers
) -> None:
    url = callback_url(browser, "alice")
    query = parse_qs(urlsplit(url).query)
    assert query["iss"] == [issuers.main]
    forged = url.replace(f"state={query['state'][0]}", "state=forged")

    refused = browser.get(forged)
    assert refused.status_code == 401
    assert "its state differs" in refused.text
    assert me_status(browser) == 401

    # A flow cookie the server signed, whose time ran out at the provider.
    now = int(time.time())
    stale = {"aud": "proctor-sso-flow", "iat": now - 700, "exp": now - 100}
    stale |= {"state": query["state"][0], "nonce": "n", "verifier": "v" * 64, "next": "/runs"}
    secret = session_secret(proctor_home)
    browser.cookies.set(FLOW_COOKIE, jwt.encode(stale, secret, algorithm="HS256"))
    expired = browser.get(url)
    assert expired.status_code == 401
    assert "expired" in expired.text

    # One signed with another key, and none at all.
    browser.cookies.set(FLOW_COOKIE, jwt.encode({**stale, "exp": now + 60}, "x" * 32))
    assert "not valid here" in browser.get(url).text
    browser.cookies.delete(FLOW_COOKIE)
    assert "did not start in this browser" in browser.get(url).text
    assert me_status(browser) == 401

    # An answer naming another issuer (RFC 9207: a mix-up) is refused before its code is used.
    fresh = urlsplit(callback_url(browser, "alice"))
    params = {name: values[0] for name, values in parse_qs(fresh.query).items()}
    mixed = browser.get(fresh.path, params={**params, "iss": issuers.other})
    assert mixed.status_code == 401
    assert "not from the configured identity provider" in mixed.text
    assert me_status(browser) == 401


def test_an_answer_replayed_with_its_flow_is_refused_by_the_provider(
    browser: TestClient,
) -> None:
    url = callback_url(browser, "bob")
    flow = browser.cookies[FLOW_COOKIE]
    assert browser.get(url).status_code == 200
    browser.cookies.set(FLOW_COOKIE, flow, path="/login/sso")
    replayed = browser.get(url)
    assert replayed.status_code == 401
    assert "refused to exchange the sign-in&#39;s code: invalid_grant" in replayed.text


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(browser: TestClient) -> None:
    assert sign_in(browser, "bob").status_code == 200
    copy = browser.cookies["proctor_session"]

    signed_out = browser.post("/logout", headers=ORIGIN)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login"

    browser.cookies.set("proctor_session", copy)
    assert me_status(browser) == 401
    assert browser.get("/runs").headers["location"].startswith("/login?")


def test_who_started_a_run_in_their_web_session_cannot_approve_it(
    db: SQLiteStore, proctor_home: Path, config: Path, issuers: Issuers
) -> None:
    with serve(db, proctor_home, config) as alice, serve(db, proctor_home, config) as bob:
        assert sign_in(alice, "alice").status_code == 200
        body = {
            "workflow": "invoice_reconciliation",
            "input": invoice.sample_input("over_threshold"),
        }
        started = alice.post("/api/v1/runs", json=body, headers=ORIGIN)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        approval = waiting_approval(alice, run_id)
        assert approval["run_id"] == run_id
        # Her page knows the run as hers, though its record keeps her e-mail pseudonymised.
        page = alice.get(f"/runs/{run_id}")
        assert "You started this run, so another approver must decide" in page.text
        assert 'value="approve"' not in page.text

        decision = {"decision": "approve", "reason": "", "next": f"/runs/{run_id}"}
        refused = alice.post(f"/approvals/{approval['approval_id']}", data=decision, headers=ORIGIN)
        assert refused.status_code == 403
        assert "separation of duties" in refused.text
        # Compared by the identity the chain recorded: issuer and subject.
        assert f"(as alice@example.com &lt;{issuers.main}#alice&gt;)" in refused.text

        assert sign_in(bob, "bob").status_code == 200
        assert 'value="approve"' in bob.get(f"/runs/{run_id}").text
        approved = bob.post(f"/approvals/{approval['approval_id']}", data=decision, headers=ORIGIN)
        assert approved.status_code == 303, approved.text
        run = settled(bob, run_id)
        assert run["outcome"] == "resolved"
        assert run["started_by"].startswith("[email:sha256:")  # an e-mail: pseudonymised


def waiting_approval(client: TestClient, run_id: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = client.get("/api/v1/approvals").json()["approvals"]
        found = [a for a in pending if a["run_id"] == run_id]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never waited for approval")


def settled(client: TestClient, run_id: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] not in ("running", "awaiting_approval"):
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish")


# The ID token's checks, on tokens the real providers issued ------------------------------


def sso_client(issuer: str, client_id: str = "proctor", **options: Any) -> OidcClient:
    config = SsoConfig(issuer=issuer, client_id=client_id, client_secret_env=SECRET_ENV)
    return OidcClient(config, "flow-secret", **options)


async def issued(client: OidcClient, login: str = "alice") -> tuple[dict[str, Any], Flow]:
    """A token ``client``'s provider issued to it, through the code flow; and its flow."""
    flow = client.new_flow("/runs")
    url = await client.authorization_url(flow, REDIRECT_URI)
    callback = await asyncio.to_thread(log_in_at_provider, url, login)
    [code] = parse_qs(urlsplit(callback).query)["code"]
    return await client.exchange(code, flow, REDIRECT_URI), flow


async def test_only_a_token_of_the_configured_issuer_for_this_client_is_accepted(
    issuers: Issuers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    proctor = sso_client(issuers.main)
    token, flow = await issued(proctor)
    claims = await proctor.verify_id_token(token["id_token"], nonce=flow.nonce)
    assert (claims["iss"], claims["aud"], claims["sub"]) == (issuers.main, "proctor", "alice")

    # Signed with the same key, by a provider at another issuer.
    elsewhere, other_flow = await issued(sso_client(issuers.other))
    with pytest.raises(SignInRefused, match="not by the configured provider"):
        await proctor.verify_id_token(elsewhere["id_token"], nonce=other_flow.nonce)

    # Issued by the right provider, to another of its clients.
    monkeypatch.setenv(SECRET_ENV, "other-app-secret")
    for_other_app, app_flow = await issued(sso_client(issuers.main, "other-app"))
    with pytest.raises(SignInRefused, match="not to this server's client 'proctor'"):
        await proctor.verify_id_token(for_other_app["id_token"], nonce=app_flow.nonce)

    # The right token, too late, for another sign-in, or altered.
    later = sso_client(issuers.main, clock=lambda: time.time() + 2 * 3600)
    with pytest.raises(SignInRefused, match="expired"):
        await later.verify_id_token(token["id_token"], nonce=flow.nonce)
    with pytest.raises(SignInRefused, match="nonce differs"):
        await proctor.verify_id_token(token["id_token"], nonce="another-sign-in")
    header, _, signature = token["id_token"].split(".")
    altered = jwt.utils.base64url_encode(orjson.dumps({**claims, "sub": "dana"})).decode()
    with pytest.raises(SignInRefused, match="signature does not verify"):
        await proctor.verify_id_token(f"{header}.{altered}.{signature}", nonce=flow.nonce)
    unsigned = jwt.encode({**claims}, "", algorithm="none")
    with pytest.raises(SignInRefused, match="unsupported_algorithm"):
        await proctor.verify_id_token(unsigned, nonce=flow.nonce)


# Configuration, and a provider that cannot be reached -----------------------------------


def test_single_sign_on_only_turns_the_key_form_off_but_not_bearer_keys(
    db: SQLiteStore,
    proctor_home: Path,
    issuers: Issuers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = tmp_path / "only-sso.yaml"
    config.write_text(sso_yaml(issuers.main, api_key_sign_in="false"))
    _, key = asyncio.run(create_api_key(db, role="viewer", tenant="acme", name="bot"))
    with serve(db, proctor_home, config) as client:
        page = client.get("/login")
        assert "Sign in with Test IdP" in page.text
        assert 'name="key"' not in page.text
        refused = client.post("/login", data={"key": key, "next": "/runs"}, headers=ORIGIN)
        assert refused.status_code == 403
        assert "single sign-on only" in refused.text
        assert "proctor_session" not in client.cookies
        as_bot = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert as_bot.json()["name"] == "bot"


def test_a_provider_that_cannot_be_reached_is_named_on_the_page(
    db: SQLiteStore, proctor_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = tmp_path / "unreachable.yaml"
    with closing(socket.socket()) as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        issuer = f"http://127.0.0.1:{unused.getsockname()[1]}"
    config.write_text(sso_yaml(issuer))
    with serve(db, proctor_home, config) as client:
        failed = client.get("/login/sso")
    assert failed.status_code == 502
    assert "The identity provider failed" in failed.text
    assert f"{issuer}/.well-known/openid-configuration" in failed.text
    assert "check sso.issuer" in failed.text


def test_a_missing_client_secret_or_a_bad_key_stops_the_server_at_start(
    db: SQLiteStore, proctor_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    config = tmp_path / "proctor.yaml"
    config.write_text(sso_yaml("https://idp.example.com"))
    with pytest.raises(ConfigError, match=f"{SECRET_ENV}, which is not set"):
        build_app(db, home=proctor_home, config=str(config))
    config.write_text(sso_yaml("https://idp.example.com", session_hours="1000"))
    with pytest.raises(ConfigError, match="session_hours is at most 720"):
        build_app(db, home=proctor_home, config=str(config))
    config.write_text(sso_yaml("https://idp.example.com", client_secret="s3cret"))
    with pytest.raises(ConfigError, match=r"sso\.client_secret: unknown key"):
        build_app(db, home=proctor_home, config=str(config))


def test_claims_the_id_token_lacks_are_read_from_userinfo_when_asked(
    db: SQLiteStore,
    proctor_home: Path,
    issuers: Issuers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    lean, with_userinfo = tmp_path / "lean.yaml", tmp_path / "userinfo.yaml"
    lean.write_text(sso_yaml(issuers.other))  # its ID tokens name no groups
    with_userinfo.write_text(sso_yaml(issuers.other, userinfo="true"))
    with serve(db, proctor_home, lean) as client:
        refused = sign_in(client, "alice")
        assert refused.status_code == 403
        assert "claim holds: none" in refused.text
    with serve(db, proctor_home, with_userinfo) as client:
        assert sign_in(client, "alice").status_code == 200
        assert (me(client)["role"], me(client)["tenant"]) == ("operator+approver", "acme")
