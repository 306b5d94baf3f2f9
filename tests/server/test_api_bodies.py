"""Request bodies over a real socket: a request is authenticated before its body is read,
and a body stops at the server's cap as it streams, whatever its Content-Length says.

Each client here keeps sending after its headers; the server must answer while it still
does (a server that read the whole body first would answer only after it, or never).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proctor.server import create_api_key
from proctor.server._serve import build_app, server_thread
from proctor.store import SQLiteStore

CAP = 8 * 1024 * 1024
"""The default cap, as the gateway's."""
CHUNK = 64 * 1024
SEND_AT_MOST = 64 * 1024 * 1024
"""What a client below sends at most: far past the cap, so an answer that comes before it
was all sent was given without reading the body."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, dict[str, str]]
    sent: int
    """Body bytes the client had sent when the answer came."""


@dataclass(frozen=True)
class Server:
    port: int
    key: str

    def post(self, headers: dict[str, str], *, declared: int | None, path: str) -> Answer:
        """POST ``path`` and keep sending a body (chunked when ``declared`` is None) until
        the server answers, or ``SEND_AT_MOST`` bytes went out."""
        framing = (
            {"Transfer-Encoding": "chunked"}
            if declared is None
            else {"Content-Length": str(declared)}
        )
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
        sent_headers = {"Content-Type": "application/json", **headers, **framing}
        lines += [f"{name}: {value}" for name, value in sent_headers.items()]
        # The timeout only ends a test whose server never answers: it is not measured.
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            sent = _send_until_answered(sock, chunked=declared is None)
            return _read_answer(sock, sent)


def _send_until_answered(sock: socket.socket, *, chunked: bool) -> int:
    piece = b"[" * CHUNK  # not JSON either: only the cap may answer it
    framed = f"{CHUNK:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    while sent < SEND_AT_MOST:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break  # the answer is there
        try:
            sock.sendall(framed)
        except OSError:
            break  # the server closed the connection: its answer is in our buffer
        sent += CHUNK
    return sent


def _read_answer(sock: socket.socket, sent: int) -> Answer:
    raw = b""
    while b"\r\n\r\n" not in raw:
        data = sock.recv(65536)
        assert data, f"the connection closed without an answer: {raw!r}"
        raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    while len(rest) < int(headers["content-length"]):
        rest += sock.recv(65536)
    return Answer(int(status_line.split()[1]), headers, json.loads(rest), sent)


@pytest.fixture
def server(tmp_path: Path, proctor_home: Path) -> Iterator[Server]:
    store = SQLiteStore(tmp_path / "bodies.db")
    try:
        _, key = asyncio.run(create_api_key(store, role="operator", tenant="acme"))
        app = build_app(store, home=proctor_home)
        with server_thread(app) as url:
            yield Server(port=int(url.rsplit(":", 1)[1]), key=key)
    finally:
        asyncio.run(store.close())


@pytest.mark.parametrize("declared", [300_000_000, None], ids=["content-length", "chunked"])
def test_an_unauthenticated_body_is_refused_before_it_is_read(
    server: Server, declared: int | None
) -> None:
    answer = server.post({}, declared=declared, path="/api/v1/runs")
    assert answer.status == 401
    assert answer.body["error"]["code"] == "unauthenticated"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.headers["connection"] == "close"  # the rest is never read
    assert answer.sent < SEND_AT_MOST


@pytest.mark.parametrize("declared", [300_000_000, None], ids=["declared", "chunked"])
def test_an_authenticated_body_stops_at_the_cap(server: Server, declared: int | None) -> None:
    # Chunked, the body says nothing of its size: it is counted as it comes.
    headers = {"Authorization": f"Bearer {server.key}"}
    answer = server.post(headers, declared=declared, path="/api/v1/runs")
    assert answer.status == 413
    assert answer.body["error"]["code"] == "request_too_large"
    assert f"({CAP:,} bytes)" in answer.body["error"]["message"]
    assert "--max-body-bytes" in answer.body["error"]["message"]
    assert answer.headers["connection"] == "close"
    assert answer.sent < SEND_AT_MOST


def test_the_sign_in_form_takes_no_large_body(server: Server) -> None:
    # Anyone may post to the sign-in page: its bound is a form's, not the API's.
    form = {"Origin": "http://127.0.0.1", "Content-Type": "application/x-www-form-urlencoded"}
    answer = server.post(form, declared=None, path="/login")
    assert answer.status == 413
    assert answer.sent < SEND_AT_MOST


def test_the_cap_is_a_setting(tmp_path: Path, proctor_home: Path) -> None:
    store = SQLiteStore(tmp_path / "small.db")
    try:
        _, key = asyncio.run(create_api_key(store, role="operator", tenant="acme"))
        app = build_app(store, home=proctor_home, max_body_bytes=1024)
        with server_thread(app) as url:
            small = Server(port=int(url.rsplit(":", 1)[1]), key=key)
            answer = small.post(
                {"Authorization": f"Bearer {key}"}, declared=None, path="/api/v1/runs"
            )
    finally:
        asyncio.run(store.close())
    assert answer.status == 413
    assert "(1,024 bytes)" in answer.body["error"]["message"]
