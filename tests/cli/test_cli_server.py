"""``proctor keys`` and ``proctor serve``, as a user runs them; ``serve``'s first start
(session secret, first admin key) through proctor.server._serve."""

from __future__ import annotations

import asyncio
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from cli_harness import PROCTOR, Ran, cli_env, proctor, proctor_all

from proctor.server._serve import (
    build_app,
    ensure_admin_key,
    is_loopback,
    server_thread,
    session_secret,
)
from proctor.store import ApiKeyRecord, SQLiteStore

pytestmark = pytest.mark.slow


def one_line_error(ran: Ran, code: int) -> str:
    assert ran.code == code, str(ran)
    assert "Traceback" not in ran.err, str(ran)
    [line] = ran.err.strip().splitlines()
    return line


def test_keys_are_created_listed_and_revoked(proctor_home: Path) -> None:
    env = cli_env(proctor_home)
    created = proctor("keys", "create", "--role", "operator", "--tenant", "acme", env=env)
    assert created.code == 0, str(created)
    assert created.out.startswith("API key (shown once, store it now): prk_"), str(created)
    token = created.out.split()[7]
    assert "role operator  tenant acme  name key_" in created.out
    as_json = proctor(
        "keys",
        "create",
        "--role",
        "viewer",
        "--tenant",
        "globex",
        "--name",
        "ci",
        "--json",
        env=env,
    )
    made = as_json.json()
    assert made["key"].startswith("prk_")
    assert (made["role"], made["tenant"], made["name"]) == ("viewer", "globex", "ci")

    table, everything, acme = proctor_all(
        [
            ["keys", "list"],
            ["keys", "list", "--json"],
            ["keys", "list", "--tenant", "acme", "--json"],
        ],
        env=env,
    )
    assert table.code == 0, str(table)
    for column in ("key id", "name", "role", "tenant", "created", "revoked"):
        assert column in table.out
    assert made["key_id"] in table.out
    listed = everything.json()["keys"]
    assert [k["name"] for k in listed] == ["ci", listed[1]["name"]]  # newest first
    assert all(
        set(k) == {"key_id", "name", "holder", "role", "tenant", "created_at", "revoked_at"}
        for k in listed
    )
    assert [k["tenant"] for k in acme.json()["keys"]] == ["acme"]
    for ran in (table, everything, created, as_json):
        assert "secret_hash" not in ran.out
    assert token not in table.out + everything.out

    revoked = proctor("keys", "revoke", made["key_id"], env=env)
    assert revoked.code == 0, str(revoked)
    assert f"revoked {made['key_id']} (ci, viewer, tenant globex)" in revoked.out
    [after] = asyncio.run(_keys_of(proctor_home / "proctor.db", "globex"))
    assert after.revoked_at is not None

    admin = proctor("keys", "create", "--role", "admin", "--tenant", "acme", "--json", env=env)
    last = proctor("keys", "revoke", admin.json()["key_id"], env=env)
    assert "last admin key of tenant 'acme'" in one_line_error(last, 1)


async def _keys_of(db: Path, tenant: str) -> list[ApiKeyRecord]:
    store = SQLiteStore(db)
    try:
        return await store.api_keys(tenant)
    finally:
        await store.close()


def test_bad_key_requests_are_one_line_errors(proctor_home: Path) -> None:
    env = cli_env(proctor_home)
    asyncio.run(SQLiteStore(proctor_home / "proctor.db").close())  # revoking needs a store
    role, tenant, unknown = proctor_all(
        [
            ["keys", "create", "--role", "root", "--tenant", "acme"],
            ["keys", "create", "--role", "viewer", "--tenant", "ac me"],
            ["keys", "revoke", "key_00000000"],
        ],
        env=env,
    )
    assert one_line_error(role, 2) == (
        "usage error: unknown role 'root': use one of viewer, operator, approver, admin"
    )
    assert one_line_error(tenant, 2).startswith("usage error: invalid tenant 'ac me': use 1-64")
    assert one_line_error(unknown, 1) == (
        "error: no API key 'key_00000000'; list them with `proctor keys list`"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_serving(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``proctor serve ARGS`` in the background, and its stdout up to the URL line."""
    proc = subprocess.Popen(
        [str(PROCTOR), "serve", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Proctor UI: "):
            break
    if "--port" in args:  # the URL line comes before uvicorn listens: wait for it
        wait_for_port(int(args[args.index("--port") + 1]))
    return proc, lines


def wait_for_port(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def test_serve_prints_the_first_admin_key_once_and_stops_on_ctrl_c(proctor_home: Path) -> None:
    env = cli_env(proctor_home)
    port = free_port()
    proc, lines = start_serving(env, "--port", str(port))
    try:
        [key_line, url_line] = lines
        assert key_line.startswith("First admin key (shown once, store it now): prk_")
        url = f"http://127.0.0.1:{port}/"
        assert url_line == f"Proctor UI: {url} — API docs: {url}docs (Ctrl-C to stop)"
        token = key_line.rsplit(" ", 1)[1]
        with httpx2.Client(base_url=url, timeout=10) as client:
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json() == {
                "key_id": me.json()["key_id"],
                "name": "admin",
                "holder": "admin",
                "role": "admin",
                "tenant": "default",
            }
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert "Application shutdown complete" in err
    secret = proctor_home / "server-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    # Restarted with single sign-on: it names the provider and the redirect URI to register.
    # (A missing client secret stops it at start: tests/server/test_ui_sso.py.)
    config = proctor_home / "proctor.yaml"
    config.write_text(
        "sso:\n  issuer: https://idp.example.com\n  client_id: proctor\n"
        "  client_secret_env: SSO_TEST_SECRET\n"
    )
    env |= {"PROCTOR_CONFIG": str(config), "SSO_TEST_SECRET": "s3cret"}
    again, lines = start_serving(env, "--port", str(port))
    code, err = stop(again)
    assert code == 0, err
    assert [line for line in lines if "admin key" in line] == []  # shown once only
    assert lines[-2] == (
        f"Single sign-on with https://idp.example.com: register {url}login/sso/callback "
        "(at the address people use) as the client's redirect URI there"
    )
    assert "s3cret" not in "\n".join(lines) + err


def test_serve_answers_only_its_hosts_and_caps_bodies(proctor_home: Path) -> None:
    env = cli_env(proctor_home)
    port = free_port()
    flags = ["--allowed-host", "proctor.test", "--max-body-bytes", "2048"]
    proc, lines = start_serving(env, "--port", str(port), *flags)
    try:
        token = lines[0].rsplit(" ", 1)[1]
        auth = {"Authorization": f"Bearer {token}"}
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/api/v1/me", headers=auth).status_code == 200
            named = client.get("/api/v1/me", headers={**auth, "host": "proctor.test:443"})
            assert named.status_code == 200
            other = client.get("/api/v1/me", headers={**auth, "host": "other.test"})
            assert other.status_code == 400
            assert other.json()["error"]["code"] == "host_not_allowed"
            big = client.post("/api/v1/keys", headers=auth, content=b" " * 4096)
            assert big.status_code == 413
            assert "(2,048 bytes)" in big.json()["error"]["message"]
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "Traceback" not in err
    bad = proctor("serve", "--allowed-host", "https://proctor.test/", env=env)
    assert one_line_error(bad, 2).startswith("usage error: --allowed-host 'https://proctor.test/'")


def test_serve_warns_beyond_this_machine_and_says_when_it_cannot_bind(
    proctor_home: Path,
) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # 192.0.2.1 is reserved for documentation: not this machine's, so the bind fails.
        far, busy = proctor_all(
            [
                ["serve", "--host", "192.0.2.1", "--port", str(port)],
                ["serve", "--port", str(taken.getsockname()[1])],
            ],
            env=cli_env(proctor_home),
        )
    assert far.out.startswith("warning: 192.0.2.1 is reachable from other machines"), str(far)
    assert "keys and sessions travel in clear" in far.out
    assert one_line_error(far, 1).startswith(f"error: cannot listen on 192.0.2.1:{port}: ")
    assert "choose another --port" in far.err
    assert "admin key" not in far.out  # nothing was made for a server that never ran
    assert "Address already in use" in one_line_error(busy, 1)
    assert busy.out == ""


def test_the_session_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = session_secret(home)
    assert len(first) >= 40
    assert session_secret(home) == first
    path = home / "server-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")  # a crash mid-write leaves nothing to sign with: start again
    renewed = session_secret(home)
    assert renewed
    assert renewed != first
    assert session_secret(home) == renewed
    assert [p.name for p in home.iterdir()] == ["server-secret"]  # no drafts left behind


async def test_the_first_admin_key_is_made_only_while_no_admin_key_works(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    try:
        token = await ensure_admin_key(store)
        assert token is not None
        assert token.startswith("prk_")
        assert await ensure_admin_key(store) is None
        [admin] = await store.api_keys()
        assert (admin.role, admin.tenant, admin.name) == ("admin", "default", "admin")
        await store.revoke_api_key(admin.key_id, 1.0)
        assert await ensure_admin_key(store) is not None  # the only admin key was revoked
        assert len(await store.api_keys()) == 2
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("proctor.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_server_in_a_thread_answers_health_and_docs(tmp_path: Path, proctor_home: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    try:
        app = build_app(store, home=proctor_home)
        with server_thread(app) as url, httpx2.Client(base_url=url, timeout=10) as client:
            assert url.startswith("http://127.0.0.1:")
            assert client.get("/healthz").json() == {"status": "ok"}
            docs = client.get("/docs")
            assert docs.status_code == 200
            assert "/docs/assets/swagger-ui-bundle.js" in docs.text
            assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
            assert client.get("/api/v1/runs").status_code == 401
    finally:
        asyncio.run(store.close())
