"""``proctor serve``'s probes: ``/healthz`` (the process answers) and ``/readyz`` (the store
answers at this Proctor's schema version), both without a key and whatever the Host."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from proctor.server._serve import build_app
from proctor.store import PostgresStore, SQLiteStore
from server.api_harness import Api, error_of


def test_a_server_on_a_working_store_is_live_and_ready(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["schema_version"] == body["supported_version"]


def test_probes_answer_whatever_the_host(api: Api) -> None:
    # An orchestrator probes the container's own address (a pod's IP) ...
    pod = {"Host": "10.1.2.3:8700"}
    assert api.client.get("/healthz", headers=pod).status_code == 200
    assert api.client.get("/readyz", headers=pod).status_code == 200
    # ... which serves nothing else: the API and the UI still refuse that Host.
    code, _ = error_of(api.client.get("/api/v1/runs", headers={**pod, **api.auth()}), 400)
    assert code == "host_not_allowed"
    assert api.client.get("/", headers=pod).status_code == 400
    assert api.client.post("/readyz", headers=pod).status_code == 400  # only GET is a probe


def test_a_store_behind_this_proctors_schema_is_not_ready(api: Api, db: SQLiteStore) -> None:
    current = api.client.get("/readyz").json()["schema_version"]
    with sqlite3.connect(db.path) as raw:
        raw.execute(f"PRAGMA user_version = {current - 1}")
    behind = api.client.get("/readyz")
    assert behind.status_code == 503
    body = behind.json()
    assert body["status"] == "unavailable"
    assert body["schema_version"] == current - 1
    assert "proctor db upgrade" in body["reason"]
    assert str(db.path) not in behind.text  # the log says where, not the probe
    assert api.client.get("/healthz").status_code == 200


def test_an_unreachable_database_is_not_ready(proctor_home: Path, unused_tcp_port: int) -> None:
    # Nothing listens on the port: PostgreSQL refuses at once.
    store = PostgresStore(f"postgresql://proctor@127.0.0.1:{unused_tcp_port}/proctor")
    app = build_app(store, home=proctor_home, secure_cookies=False)
    with TestClient(app, base_url="http://localhost") as client:
        ready = client.get("/readyz")
        live = client.get("/healthz")
    asyncio.run(store.close())
    assert ready.status_code == 503
    assert ready.json()["reason"] == "the store cannot be reached"
    assert str(unused_tcp_port) not in ready.text
    assert live.status_code == 200
