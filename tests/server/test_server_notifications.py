"""`proctor serve` announces pending approvals while it runs, when proctor.yaml names
channels: a real webhook receiver gets the approval without `proctor notify`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.server import create_server
from proctor.store import SQLiteStore
from support.webhook_receiver import WebhookReceiver


def test_the_server_announces_pending_approvals(tmp_path: Path) -> None:
    hook = WebhookReceiver()
    config = tmp_path / "proctor.yaml"
    url = hook.url
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
            while not hook.bodies:
                assert time.monotonic() < deadline, "the server announced nothing"
                time.sleep(0.05)
        [body] = hook.bodies
        assert json.loads(body)["approval"]["approval_id"] == started.state.pending_approval
    finally:
        hook.close()
        asyncio.run(store.close())
