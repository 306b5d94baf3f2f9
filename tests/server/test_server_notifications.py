"""`proctor serve` announces pending approvals while it runs, when proctor.yaml names
channels: a real webhook receiver gets the approval without `proctor notify`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.server import create_server
from proctor.store import SQLiteStore


def test_the_server_announces_pending_approvals(tmp_path: Path) -> None:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = tmp_path / "proctor.yaml"
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    config.write_text(
        f"notifications: {{channels: {{ops: {{webhook: {{url: '{url}'}}}}}}, default: [ops]}}\n"
    )
    store = SQLiteStore(tmp_path / "server.db")
    try:
        started = asyncio.run(
            Runner(store, invoice.workflow()).start(invoice.sample_input("over_threshold"))
        )
        assert started.state.pending_approval is not None
        app = create_server(store, session_secret="s" * 40, config=str(config))
        with TestClient(app, base_url="https://testserver"):
            deadline = time.monotonic() + 10
            while not bodies:
                assert time.monotonic() < deadline, "the server announced nothing"
                time.sleep(0.05)
        [body] = bodies
        assert json.loads(body)["approval"]["approval_id"] == started.state.pending_approval
    finally:
        hook.shutdown()
        hook.server_close()
        asyncio.run(store.close())
