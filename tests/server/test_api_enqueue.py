"""``proctor serve --enqueue``: runs started over the API go to the run queue, and
``proctor worker`` processes drive them, so the server holds nothing a restart loses.

Each test runs on a SQLite file and on PostgreSQL. A "server" is an app over its own
store object (as a process would open it); a worker is ``Worker`` with ``drain``, on
a store of its own, run while no server is up, or on the server's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from proctor.errors import UsageError
from proctor.examples import invoice
from proctor.runtime import Worker, WorkerOptions, WorkerStats
from proctor.server import ROLES, create_api_key, create_server
from proctor.server._serve import build_app
from proctor.store import MemoryStore, Store, open_store
from server.api_harness import BASE_URL, Api, error_of
from support.stores import drop_schema, new_schema_url

DRAIN = WorkerOptions(drain=True, poll_s=0.05)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the store is: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
        return
    server: str = request.getfixturevalue("postgres_server")
    schema, url = new_schema_url(server)
    yield url
    asyncio.run(drop_schema(server, schema))


@pytest.fixture
def keys(location: str) -> dict[tuple[str, str], str]:
    """A key of every role in tenant acme (the first process to open the store)."""

    async def mint() -> dict[tuple[str, str], str]:
        store = open_store(location)
        try:
            return {
                ("acme", role): (
                    await create_api_key(store, role=role, tenant="acme", name=f"acme-{role}")
                )[1]
                for role in ROLES
            }
        finally:
            await store.close()

    return asyncio.run(mint())


@contextmanager
def server(location: str, keys: dict[tuple[str, str], str], home: Path) -> Iterator[Api]:
    """One `proctor serve --enqueue` process: its own store, app and event loop."""
    store = open_store(location)
    app = build_app(
        store, home=home, allowed_hosts=[urlsplit(BASE_URL).hostname or ""], enqueue=True
    )
    with TestClient(app, base_url=BASE_URL) as client:
        api = Api(client=client, store=store, keys=dict(keys))
        try:
            yield api
        finally:
            api.call(store.close)  # on the loop that used it (PostgreSQL's pool is bound)


def work_off(location: str) -> WorkerStats:
    """`proctor worker --drain` in a process of its own (its own store and event loop)."""

    async def drive() -> WorkerStats:
        store = open_store(location)
        try:
            return await Worker(store, DRAIN).run()
        finally:
            await store.close()

    return asyncio.run(drive())


def start(api: Api, sample: str = "clean", **fields: Any) -> Any:
    body = {"workflow": "invoice_reconciliation", "input": invoice.sample_input(sample)}
    body |= fields
    response = api.post("/api/v1/runs", body, role="operator")
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/v1/runs/{response.json()['run_id']}"
    return response.json()


def test_a_run_started_over_the_api_is_queued_not_driven(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as api:
        answer = start(api)
        run_id = answer["run_id"]
        assert answer["status"] == "queued"
        assert answer["tenant"] == "acme"
        assert answer["started_by"] == "acme-operator"
        assert answer["totals"]["tool_calls"] == 0
        # Visible at once, at its Location and in the list of queued runs; no events yet.
        assert api.get(f"/api/v1/runs/{run_id}", role="viewer").json() == answer
        listed = api.get("/api/v1/runs", role="viewer", status="queued").json()
        assert [run["run_id"] for run in listed["runs"]] == [run_id]
        assert api.get(f"/api/v1/runs/{run_id}/events").json()["events"] == []
        # The server drove nothing: the run has no record, and its queue item waits.
        assert api.call(lambda: api.store.get_run(run_id)) is None
        [item] = api.call(lambda: api.store.queue_items(run_ids=[run_id]))
        assert (item.state, item.workflow, item.tenant) == (
            "queued",
            "invoice_reconciliation",
            "acme",
        )

        # A worker on the server's loop drives it; the API then reads the record.
        stats = api.call(lambda: Worker(api.store, DRAIN).run())
        assert (stats.claimed, stats.finished) == (1, 1)
        run = api.get(f"/api/v1/runs/{run_id}", role="viewer").json()
        assert (run["status"], run["outcome"]) == ("finished", "resolved")
        assert run["started_by"] == "acme-operator"  # the submitter, opened from the seal
        assert run["contract_name"] == "invoice_reconciliation"
        assert api.get("/api/v1/runs", role="viewer", status="queued").json()["runs"] == []


def test_a_queued_run_keeps_its_session(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as api:
        mine = start(api, session="chat-42")
        start(api)  # another conversation's
        assert mine["session"] == "chat-42"
        listed = api.get("/api/v1/runs", role="viewer", status="queued", session="chat-42")
        assert [run["run_id"] for run in listed.json()["runs"]] == [mine["run_id"]]
        refused = api.get("/api/v1/runs", role="viewer", status="queued", search="acme")
        assert "leave out cursor, outcome, version and search" in error_of(refused, 400)[1]
        assert api.call(lambda: Worker(api.store, DRAIN).run()).finished == 2
        driven = api.get("/api/v1/runs", role="viewer", session="chat-42").json()["runs"]
        assert [(run["run_id"], run["session"]) for run in driven] == [(mine["run_id"], "chat-42")]


def test_the_run_page_of_a_queued_run_waits_for_a_worker(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as api:
        run_id = start(api, session="chat-9")["run_id"]
        signed = api.client.post(
            "/login",
            data={"key": keys[("acme", "viewer")]},
            headers={"origin": BASE_URL},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        page = api.client.get(f"/runs/{run_id}")
        assert page.status_code == 200, page.text
        assert "waits in the run queue for a worker" in page.text
        assert 'href="/sessions/chat-9"' in page.text
        assert api.client.get(f"/ui/runs/{run_id}/status").json() == {
            "status": "queued",
            "outcome": None,
            "last_seq": -1,
        }
        api.call(lambda: Worker(api.store, DRAIN).run())
        assert api.client.get(f"/ui/runs/{run_id}/status").json()["status"] == "finished"
        assert "waits in the run queue" not in api.client.get(f"/runs/{run_id}").text


def test_nothing_is_lost_across_a_server_restart(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as first:
        run_id = start(first)["run_id"]
    # No server runs now: a worker drives the run from the queue alone.
    assert work_off(location).finished == 1
    with server(location, keys, proctor_home) as second:
        run = second.get(f"/api/v1/runs/{run_id}", role="viewer").json()
        assert (run["status"], run["outcome"]) == ("finished", "resolved")
        events = second.get(f"/api/v1/runs/{run_id}/events", limit=1000).json()["events"]
        assert (events[0]["type"], events[-1]["type"]) == ("run_started", "run_finished")


def test_an_approval_over_the_api_resumes_the_run_through_the_queue(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as api:
        run_id = start(api, "over_threshold")["run_id"]
        assert api.call(lambda: Worker(api.store, DRAIN).run()).waiting == 1
        waiting = api.get(f"/api/v1/runs/{run_id}").json()
        assert waiting["status"] == "awaiting_approval"
        approval = waiting["pending_approval"]
    # Another server process decides it; the run continues in a worker, not there.
    with server(location, keys, proctor_home) as api:
        decided = api.post(f"/api/v1/approvals/{approval}/approve", {}, "approver")
        assert decided.status_code == 200, decided.text
        events = api.call(lambda: api.store.events(run_id))
        assert events[-1].type == "approval_decided"
        [item] = api.call(lambda: api.store.queue_items(run_ids=[run_id]))
        assert item.state == "waiting"  # claimable now its run no longer awaits approval
    assert work_off(location).finished == 1
    with server(location, keys, proctor_home) as api:
        run = api.get(f"/api/v1/runs/{run_id}").json()
        assert (run["status"], run["outcome"]) == ("finished", "resolved")
        resumed = [
            e
            for e in api.get(f"/api/v1/runs/{run_id}/events", limit=1000).json()["events"]
            if e["type"] == "run_resumed"
        ]
        assert resumed
        assert all("by worker" in e["meta"]["reason"] for e in resumed), resumed


def test_a_queued_run_streams_once_a_worker_starts_it(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as api:
        run_id = start(api)["run_id"]
        worker = api.client.portal
        assert worker is not None
        # The worker starts after the stream opened: the stream waits for the run.
        drained = worker.start_task_soon(lambda: Worker(api.store, DRAIN).run())
        with api.client.stream(
            "GET", f"/api/v1/runs/{run_id}/events/stream", headers=api.auth("viewer")
        ) as response:
            assert response.status_code == 200
            text = "".join(response.iter_text())
        # The worker is done before the store closes (the client's portal waits for its
        # tasks on exit: one left running on a closed store would hold it forever).
        try:
            assert drained.result(timeout=60).finished == 1
        finally:
            drained.cancel()
        assert "event: run_started" in text
        assert text.rstrip().splitlines()[-1].startswith("data: ")
        assert "event: end" in text
        assert '"outcome": "resolved"' in text


def test_what_a_worker_would_refuse_is_refused_at_the_api(
    location: str, keys: dict[tuple[str, str], str], proctor_home: Path
) -> None:
    with server(location, keys, proctor_home) as api:
        # As a server that drives runs answers: 400, naming what it knows.
        body = {"workflow": "no_such_flow", "input": {}}
        code, message = error_of(api.post("/api/v1/runs", body, role="operator"), 400)
        assert "no_such_flow" in message
        assert "invoice_reconciliation" in message
        body = {
            "workflow": "invoice_reconciliation",
            "input": invoice.sample_input("clean"),
            "model": "scripted:nope",
        }
        code, message = error_of(api.post("/api/v1/runs", body, role="operator"), 400)
        assert (code, "scripted:procedure" in message) == ("bad_request", True)
        assert api.call(lambda: api.store.queue_items()) == []
        # A viewer may read but not start.
        error_of(api.post("/api/v1/runs", body, role="viewer"), 403)
        # status=queued lists one page of runs without outcomes.
        code, message = error_of(api.get("/api/v1/runs", status="queued", outcome="resolved"), 400)
        assert "status=queued" in message
        # Another tenant's queued run is not found, like one that does not exist.
        run_id = start(api)["run_id"]
        api.add_key("viewer", "globex", "globex-viewer", alias="viewer")
        error_of(api.get(f"/api/v1/runs/{run_id}", role="viewer", tenant="globex"), 404)
        listed = api.get("/api/v1/runs", role="viewer", tenant="globex", status="queued")
        assert listed.json()["runs"] == []


def test_an_in_memory_store_cannot_hold_the_queue(tmp_path: Path) -> None:
    store: Store = MemoryStore()
    with pytest.raises(UsageError, match=r"in-memory store.*--enqueue"):
        create_server(store, session_secret="s" * 32, enqueue=True)
