"""``/api/v1/approvals``: listing, approving and denying, with separation of duties; the
run continues in the background after a decision."""

from __future__ import annotations

import time

import pytest

from proctor.examples import invoice
from proctor.runtime import Worker, WorkerOptions, submit
from server.api_harness import Api, error_of


def waiting_run(api: Api, *, role: str = "operator") -> tuple[str, str]:
    """An over-threshold invoice run waiting for a person's approval: (run, approval)."""
    run_id = api.start("over_threshold", role=role)
    run = api.settled(run_id)
    assert run["status"] == "awaiting_approval", run
    approval_id: str = run["pending_approval"]
    return run_id, approval_id


def test_a_pending_approval_shows_the_exact_call(api: Api) -> None:
    run_id, approval_id = waiting_run(api)
    [approval] = api.get("/api/v1/approvals", role="viewer").json()["approvals"]
    assert approval["approval_id"] == approval_id
    assert approval["run_id"] == run_id
    assert approval["tool"] == "erp.create_payment"
    assert approval["arguments"]["amount"] == 24500.0
    assert approval["rule"] == "approval.erp.create_payment"
    assert "10,000" in approval["reason"]
    assert approval["status"] == "pending"
    assert approval["approver"] == "checker_then_human"
    assert approval["requested_at"].endswith("Z")
    assert approval["expires_at"] is not None
    assert approval["decided_by"] is None
    assert api.get(f"/api/v1/approvals/{approval_id}").json() == approval


def test_approving_resumes_the_run_to_its_end(api: Api) -> None:
    run_id, approval_id = waiting_run(api)
    response = api.post(
        f"/api/v1/approvals/{approval_id}/approve", {"reason": "checked with AP"}, "approver"
    )
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "approved"
    assert decided["decided_by"] == "acme-approver"
    assert decided["decision_reason"] == "checked with AP"
    assert decided["decided_at"] is not None

    run = api.settled(run_id)
    assert (run["status"], run["outcome"]) == ("finished", "resolved")
    assert run["pending_approval"] is None
    assert api.get("/api/v1/approvals").json()["approvals"] == []
    assert [
        a["approval_id"]
        for a in api.get("/api/v1/approvals", status="approved").json()["approvals"]
    ] == [approval_id]


def test_approving_needs_no_body(api: Api) -> None:
    _, approval_id = waiting_run(api)
    response = api.client.post(
        f"/api/v1/approvals/{approval_id}/approve", headers=api.auth("approver")
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision_reason"] == ""


def test_denying_escalates_the_run_as_its_contract_says(api: Api) -> None:
    run_id, approval_id = waiting_run(api)
    response = api.post(
        f"/api/v1/approvals/{approval_id}/deny", {"reason": "vendor on hold"}, "admin"
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "denied"
    run = api.settled(run_id)
    assert (run["status"], run["outcome"]) == ("finished", "escalated")
    denied = api.get("/api/v1/approvals", status="denied").json()["approvals"]
    assert [a["decision_reason"] for a in denied] == ["vendor on hold"]


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_denial_needs_a_reason(api: Api, reason: str) -> None:
    _, approval_id = waiting_run(api)
    response = api.post(f"/api/v1/approvals/{approval_id}/deny", {"reason": reason}, "approver")
    code, message = error_of(response, 400)
    assert code == "bad_request"
    assert "a denial needs a reason" in message
    missing = api.post(f"/api/v1/approvals/{approval_id}/deny", {}, "approver")
    assert "reason: Field required" in error_of(missing, 400)[1]
    # Nothing was decided.
    assert api.get(f"/api/v1/approvals/{approval_id}").json()["status"] == "pending"


def test_deciding_twice_is_an_invalid_state(api: Api) -> None:
    _, approval_id = waiting_run(api)
    assert api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "approver").status_code == 200
    for verdict in ("approve", "deny"):
        again = api.post(f"/api/v1/approvals/{approval_id}/{verdict}", {"reason": "x"}, "admin")
        code, message = error_of(again, 409)
        assert code == "invalid_state"
        assert "already approved by acme-approver" in message


def test_whoever_started_a_run_may_not_decide_its_approvals(api: Api) -> None:
    # One person holding two keys: an admin key and an approver key, both named xavier.
    api.add_key("admin", "acme", "xavier")
    api.add_key("approver", "acme", "xavier", alias="xavier-approves")
    run_id, approval_id = waiting_run(api, role="xavier")
    assert api.get(f"/api/v1/runs/{run_id}").json()["started_by"] == "xavier"

    for role in ("xavier", "xavier-approves"):
        response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, role)
        code, message = error_of(response, 403)
        assert code == "forbidden"
        assert "separation of duties" in message
    assert api.get(f"/api/v1/approvals/{approval_id}").json()["status"] == "pending"

    response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "approver")
    assert response.status_code == 200, response.text
    assert api.settled(run_id)["outcome"] == "resolved"


def test_a_key_an_admin_mints_for_itself_is_still_the_admin(api: Api) -> None:
    """Found by review: the check compared key names, case-sensitively, so an admin could
    approve its own run through a key it minted named Default-Admin."""
    _, approval_id = waiting_run(api, role="admin")
    minted = api.post("/api/v1/keys", {"role": "approver", "name": "Default-Admin"})
    assert minted.status_code == 201, minted.text
    assert minted.json()["holder"] == "acme-admin"
    api.keys["acme", "minted"] = minted.json()["key"]
    code, message = error_of(
        api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "minted"), 403
    )
    assert code == "forbidden"
    assert "separation of duties" in message
    assert api.get(f"/api/v1/approvals/{approval_id}").json()["status"] == "pending"


@pytest.mark.parametrize("alias", ["XAVIER", " xavier ", "\uff38avier", "user:xavier"])
def test_identities_match_whatever_their_case_or_form(api: Api, alias: str) -> None:
    api.add_key("operator", "acme", "xavier-operates", holder="xavier")
    api.add_key("approver", "acme", "other-name", alias="same", holder=alias)
    _, approval_id = waiting_run(api, role="xavier-operates")
    response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "same")
    assert error_of(response, 403)[0] == "forbidden"


def test_a_key_for_another_holder_may_decide(api: Api) -> None:
    run_id, approval_id = waiting_run(api, role="admin")
    minted = api.post("/api/v1/keys", {"role": "approver", "name": "b", "holder": "bob"})
    assert minted.json()["holder"] == "bob"
    api.keys["acme", "bob"] = minted.json()["key"]
    response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "bob")
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"] == "bob"
    assert api.settled(run_id)["outcome"] == "resolved"


def test_an_unknown_approval_is_not_found(api: Api) -> None:
    for response in (
        api.get("/api/v1/approvals/ap_000000000000"),
        api.post("/api/v1/approvals/ap_000000000000/approve", {}, "approver"),
        api.post("/api/v1/approvals/ap_000000000000/deny", {"reason": "x"}, "approver"),
    ):
        code, message = error_of(response, 404)
        assert code == "not_found"
        assert "ap_000000000000" in message


def test_the_status_filter_takes_known_statuses_only(api: Api) -> None:
    _, approval_id = waiting_run(api)
    for status in ("approved", "denied", "expired"):
        assert api.get("/api/v1/approvals", status=status).json()["approvals"] == []
    everything = api.get("/api/v1/approvals", status="all").json()["approvals"]
    assert [a["approval_id"] for a in everything] == [approval_id]
    code, message = error_of(api.get("/api/v1/approvals", status="open"), 400)
    assert code == "invalid_request"
    assert "'pending'" in message


def test_approvals_come_a_page_at_a_time_oldest_request_first(api: Api) -> None:
    asked = [waiting_run(api)[1] for _ in range(3)]
    api.start("over_threshold", tenant="globex")  # another tenant's: never listed here
    first = api.get("/api/v1/approvals", limit=2).json()
    assert [a["approval_id"] for a in first["approvals"]] == asked[:2]
    assert first["next_cursor"]
    rest = api.get("/api/v1/approvals", limit=2, cursor=first["next_cursor"]).json()
    assert [a["approval_id"] for a in rest["approvals"]] == asked[2:]
    assert rest["next_cursor"] is None
    whole = api.get("/api/v1/approvals").json()
    assert [a["approval_id"] for a in whole["approvals"]] == asked
    assert whole["next_cursor"] is None
    for cursor in ("nonsense", first["next_cursor"][:-3], "WyJ4IiwxXQ"):
        code, message = error_of(api.get("/api/v1/approvals", cursor=cursor), 400)
        assert code == "bad_request"
        assert "Fix: pass the next_cursor of the previous page unchanged" in message
    code, message = error_of(api.get("/api/v1/approvals", limit=0), 400)
    assert "limit" in message


def test_a_queued_runs_approval_leaves_the_run_to_the_workers(api: Api) -> None:
    input = invoice.sample_input("over_threshold")
    run_id = api.call(
        lambda: submit(api.store, "invoice_reconciliation", input, tenant="acme", submitted_by="op")
    )
    drain = WorkerOptions(drain=True, poll_s=0.05)
    api.call(lambda: Worker(api.store, drain).run())
    approval_id = api.settled(run_id)["pending_approval"]
    response = api.post(f"/api/v1/approvals/{approval_id}/approve", {}, "approver")
    assert response.status_code == 200, response.text
    time.sleep(0.3)  # time enough for a resume the server should not have started
    events = api.call(lambda: api.store.events(run_id))
    assert events[-1].type == "approval_decided"  # the server drove nothing after it
    stats = api.call(lambda: Worker(api.store, drain).run())
    assert stats.finished == 1
    run = api.settled(run_id)
    assert (run["status"], run["outcome"]) == ("finished", "resolved")
