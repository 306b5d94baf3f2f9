"""A request or a stored row only names a workflow the operator installed or configured:
nothing is imported from what it spells (THREAT-MODEL: an API key holder never loads or
runs code by naming it; someone who can write the database neither)."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from proctor.examples import invoice
from proctor.runtime import WorkflowCatalog
from proctor.server._serve import build_app
from proctor.store import ApiKeyRecord, SQLiteStore
from server.api_harness import BASE_URL, Api, error_of
from server.test_api_approvals import waiting_run
from support.raw_sql import execute_raw

# Each would do harm if imported or called: pause the event loop of every tenant, kill
# the process, print to the log, exit; or spell no module at all.
HOSTILE = ["signal:pause", "os:abort", "this:s", "sys:exit", ":x", "..:x", "a" * 5000, "x\x00:y"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_request_cannot_make_the_server_import_or_call_anything(api: Api, name: str) -> None:
    before = set(sys.modules)
    response = api.post("/api/v1/runs", {"workflow": name, "input": {}}, role="operator")
    code, message = error_of(response, 400)
    assert code in {"bad_request", "invalid_request"}
    if code == "bad_request":
        assert "invoice_reconciliation" in message  # what it may name instead
    assert set(sys.modules) - before == set()
    assert "this" not in sys.modules


def test_a_stored_workflow_ref_is_looked_up_not_imported(api: Api) -> None:
    """Someone who can write the database points a waiting run at ``this:s``: the edit is
    caught against the chained ``run_started`` (409, nothing decided), and nothing is
    imported."""
    run_id, approval_id = waiting_run(api)
    edit = "UPDATE runs SET workflow_ref = 'this:s' WHERE run_id = ?"
    api.call(lambda: execute_raw(api.store, edit, (run_id,)))
    before = set(sys.modules)
    response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "approver")
    assert response.status_code == 409, response.text
    assert "workflow_ref 'this:s'" in response.json()["error"]["message"]
    assert "this" not in sys.modules
    assert set(sys.modules) - before == set()
    assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "awaiting_approval"


@pytest.fixture
def configured(
    db: SQLiteStore,
    proctor_home: Path,
    seeded_keys: dict[tuple[str, str], tuple[ApiKeyRecord, str]],
) -> Iterator[Api]:
    """A server whose operator configured one workflow of their own by reference."""
    catalog = WorkflowCatalog(["server.own_workflows:own"])
    app = build_app(db, home=proctor_home, workflows=catalog, allowed_hosts=["testserver"])
    with TestClient(app, base_url=BASE_URL) as client:
        yield Api(client=client, store=db, keys={k: t for k, (_, t) in seeded_keys.items()})


@pytest.mark.parametrize(
    ("name", "recorded"),
    [
        ("server.own_workflows:own", "own_invoices"),
        ("own_invoices", "own_invoices"),
        ("invoice_reconciliation", "invoice_reconciliation"),
    ],
)
def test_a_configured_workflow_runs_by_its_ref_or_its_name(
    configured: Api, name: str, recorded: str
) -> None:
    body = {"workflow": name, "input": invoice.sample_input("clean")}
    response = configured.post("/api/v1/runs", body, role="operator")
    assert response.status_code == 202, response.text
    run = configured.settled(response.json()["run_id"])
    assert (run["workflow"], run["outcome"]) == (recorded, "resolved")


def test_a_module_beside_a_configured_one_is_still_refused(configured: Api) -> None:
    body = {"workflow": "server.own_workflows:dataclasses", "input": {}}
    error_of(configured.post("/api/v1/runs", body, role="operator"), 400)


def test_the_server_creates_a_missing_home_for_its_owner_alone(tmp_path: Path) -> None:
    from proctor.server._serve import session_secret

    home = tmp_path / "new" / "home"
    session_secret(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "server-secret").stat().st_mode) == 0o600


def test_the_api_shows_an_approval_as_its_run_asked_not_as_the_table_says(api: Api) -> None:
    """Someone edits the stored arguments of a pending payment (24,500 -> 245): the API
    shows the chained request; deciding it is refused."""
    _, approval_id = waiting_run(api)
    shown = api.get(f"/api/v1/approvals/{approval_id}").json()
    amount = shown["arguments"]["amount"]
    forged = {**shown["arguments"], "amount": 245}
    edit = "UPDATE approvals SET arguments = ? WHERE approval_id = ?"
    api.call(lambda: execute_raw(api.store, edit, (json.dumps(forged), approval_id)))

    assert api.get(f"/api/v1/approvals/{approval_id}").json()["arguments"]["amount"] == amount
    listed = api.get("/api/v1/approvals").json()
    [item] = [a for a in listed["approvals"] if a["approval_id"] == approval_id]
    assert item["arguments"]["amount"] == amount
    response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "approver")
    assert response.status_code == 409, response.text
    assert "approvals table was edited" in response.json()["error"]["message"]
