"""Sessions and keys end for real: signing out ends a session in the store (a copied
cookie stops working, in another server process and after a restart), an open event
stream stops once its key is revoked or its session ended, only the hosts the server was
told are answered (and trusted by the same-origin check), and a tenant keeps an admin key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from proctor.server import create_api_key
from proctor.server._auth import SESSION_COOKIE
from proctor.server._serve import build_app, server_thread
from proctor.store import SQLiteStore
from server.api_harness import BASE_URL, Api, error_of, record_run

ORIGIN = {"origin": BASE_URL}


def sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; returns the session cookie's value."""
    client.cookies.clear()
    signed = client.post("/login", data={"key": key}, headers=ORIGIN, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    cookie = signed.cookies[SESSION_COOKIE]
    client.cookies.clear()
    return cookie


def me(client: TestClient, cookie: str) -> httpx2.Response:
    return client.get("/api/v1/me", headers={"cookie": f"{SESSION_COOKIE}={cookie}"})


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(api: Api) -> None:
    cookie = sign_in(api.client, api.keys["acme", "viewer"])
    assert me(api.client, cookie).json()["name"] == "acme-viewer"
    out = api.client.post(
        "/logout",
        headers={**ORIGIN, "cookie": f"{SESSION_COOKIE}={cookie}"},
        follow_redirects=False,
    )
    assert out.status_code == 303
    code, message = error_of(me(api.client, cookie), 401)  # a copy kept elsewhere
    assert code == "unauthenticated"
    assert "your session ended; sign in again" in message
    page = api.client.get(
        "/runs", headers={"cookie": f"{SESSION_COOKIE}={cookie}"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


def test_a_session_ended_in_one_server_is_ended_in_another_and_after_a_restart(
    tmp_path: Path, proctor_home: Path
) -> None:
    store = SQLiteStore(tmp_path / "shared.db")
    try:
        _, key = asyncio.run(create_api_key(store, role="viewer", tenant="acme"))

        def server() -> TestClient:  # another process's app: its own caches, same store
            app = build_app(store, home=proctor_home, allowed_hosts=["testserver"])
            return TestClient(app, base_url=BASE_URL)

        with server() as first, server() as second:
            cookie = sign_in(first, key)
            assert me(second, cookie).status_code == 200  # one session, seen by both
            ended = second.post(
                "/logout",
                headers={**ORIGIN, "cookie": f"{SESSION_COOKIE}={cookie}"},
                follow_redirects=False,
            )
            assert ended.status_code == 303
            assert me(second, cookie).status_code == 401
        with server() as restarted:
            assert me(restarted, cookie).status_code == 401
    finally:
        asyncio.run(store.close())


@dataclass
class Live:
    url: str
    admin: str
    viewer: str
    viewer_id: str
    run_id: str


@pytest.fixture
def live(tmp_path: Path, proctor_home: Path) -> Iterator[Live]:
    store = SQLiteStore(tmp_path / "live.db")
    try:
        _, admin = asyncio.run(create_api_key(store, role="admin", tenant="acme"))
        viewer, token = asyncio.run(create_api_key(store, role="viewer", tenant="acme"))
        run_id = asyncio.run(record_run(store, outcome=None))  # never finishes
        app = build_app(store, home=proctor_home, secure_cookies=False)
        with server_thread(app) as url:
            yield Live(url, admin, token, viewer.key_id, run_id)
    finally:
        asyncio.run(store.close())


def stream_lines(client: httpx2.Client, live: Live, headers: dict[str, str]) -> Iterator[str]:
    path = f"{live.url}/api/v1/runs/{live.run_id}/events/stream"
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        yield from response.iter_lines()


@pytest.mark.parametrize("ended_by", ["revoking the key", "signing out"])
def test_an_open_stream_stops_when_its_key_is_revoked_or_its_session_ends(
    live: Live, ended_by: str
) -> None:
    # A read timeout fails the test if the stream goes on: it is a bound, not a measure.
    with httpx2.Client(timeout=10) as client:
        if ended_by == "signing out":
            signed = client.post(
                f"{live.url}/login",
                data={"key": live.viewer},
                headers={"origin": live.url},
                follow_redirects=False,
            )
            cookie = f"{SESSION_COOKIE}={signed.cookies[SESSION_COOKIE]}"
            headers = {"cookie": cookie}
        else:
            headers = {"Authorization": f"Bearer {live.viewer}"}
        lines = stream_lines(client, live, headers)
        assert next(line for line in lines if line.startswith("event: ")) == "event: run_started"
        if ended_by == "signing out":
            out = client.post(
                f"{live.url}/logout",
                headers={"origin": live.url, **headers},
                follow_redirects=False,
            )
            assert out.status_code == 303
        else:
            revoked = client.delete(
                f"{live.url}/api/v1/keys/{live.viewer_id}",
                headers={"Authorization": f"Bearer {live.admin}"},
            )
            assert revoked.status_code == 200, revoked.text
        rest = list(lines)  # ends: the server closed the stream
    assert "event: unauthenticated" in rest
    assert "event: end" not in rest


def test_a_host_the_server_was_not_told_is_refused(api: Api) -> None:
    response = api.client.get("/api/v1/me", headers={**api.auth(), "host": "rebind.example"})
    code, message = error_of(response, 400)
    assert code == "host_not_allowed"
    assert "--allowed-host" in message
    # A page of a name that resolves here (DNS rebinding) posting to its own origin.
    rebound = api.client.post(
        "/login",
        data={"key": api.keys["acme", "admin"]},
        headers={"host": "rebind.example", "origin": "https://rebind.example"},
        follow_redirects=False,
    )
    assert rebound.status_code == 400
    assert SESSION_COOKIE not in rebound.cookies


def test_the_last_admin_key_of_a_tenant_is_kept(api: Api) -> None:
    only = api.records["acme", "admin"].key_id
    code, message = error_of(api.delete(f"/api/v1/keys/{only}"), 409)
    assert code == "invalid_state"
    assert "last admin key of tenant 'acme'" in message
    assert "create another admin key first" in message
    assert api.get("/api/v1/me").status_code == 200
    created = api.post("/api/v1/keys", {"role": "admin", "name": "successor"})
    assert created.status_code == 201, created.text
    assert api.delete(f"/api/v1/keys/{only}").status_code == 200
    successor = {"Authorization": f"Bearer {created.json()['key']}"}
    last = created.json()["key_id"]
    assert api.client.delete(f"/api/v1/keys/{last}", headers=successor).status_code == 409
