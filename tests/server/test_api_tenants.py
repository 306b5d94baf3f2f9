"""The tenant boundary: another tenant's run, events, stream, approval, eval result and key
answer exactly like missing ones (404), and lists never show another tenant's rows."""

from __future__ import annotations

import dataclasses
import re

import pytest

from server.api_harness import Api, error_of
from support.eval_results import eval_result


@pytest.fixture
def acme_run(api: Api) -> tuple[str, str]:
    """An acme run waiting for approval: (run, approval)."""
    run_id = api.start("over_threshold", tenant="acme")
    approval_id: str = api.settled(run_id, tenant="acme")["pending_approval"]
    return run_id, approval_id


def same_as_missing(api: Api, path: str, missing: str, real: str, method: str = "GET") -> None:
    """``path`` with ``real`` (acme's) answers globex as ``path`` with ``missing`` does."""

    def ask(target: str) -> tuple[str, str]:
        response = api.client.request(
            method,
            path.format(target),
            headers=api.auth("admin", "globex"),
            json={"reason": "x"} if method == "POST" else None,
        )
        code, message = error_of(response, 404)
        return code, message.replace(target, "ID")

    assert ask(real) == ask(missing)


def test_another_tenants_run_and_its_log_are_not_found(api: Api, acme_run: tuple[str, str]) -> None:
    run_id, _ = acme_run
    for path in (
        "/api/v1/runs/{}",
        "/api/v1/runs/{}/events",
        "/api/v1/runs/{}/events/stream",
    ):
        same_as_missing(api, path, "run_0123456789abcdef", run_id)
    assert (
        "tenant 'globex'" in error_of(api.get(f"/api/v1/runs/{run_id}", "viewer", "globex"), 404)[1]
    )


def test_another_tenants_approval_is_not_found_nor_decidable(
    api: Api, acme_run: tuple[str, str]
) -> None:
    run_id, approval_id = acme_run
    missing = "ap_0123456789ab"
    same_as_missing(api, "/api/v1/approvals/{}", missing, approval_id)
    same_as_missing(api, "/api/v1/approvals/{}/approve", missing, approval_id, "POST")
    same_as_missing(api, "/api/v1/approvals/{}/deny", missing, approval_id, "POST")
    assert api.get(f"/api/v1/approvals/{approval_id}").json()["status"] == "pending"
    assert api.get(f"/api/v1/runs/{run_id}").json()["status"] == "awaiting_approval"


def test_lists_show_only_the_keys_tenant(api: Api, acme_run: tuple[str, str]) -> None:
    run_id, approval_id = acme_run
    globex_run = api.start("clean", tenant="globex")
    api.settled(globex_run, tenant="globex")

    def run_ids(tenant: str) -> list[str]:
        return [r["run_id"] for r in api.get("/api/v1/runs", tenant=tenant).json()["runs"]]

    assert run_ids("acme") == [run_id]
    assert run_ids("globex") == [globex_run]
    for status in ("pending", "all"):
        globex = api.get("/api/v1/approvals", tenant="globex", status=status).json()
        assert globex["approvals"] == []
        acme = api.get("/api/v1/approvals", tenant="acme", status=status).json()
        assert [a["approval_id"] for a in acme["approvals"]] == [approval_id]
    acme_report = api.get("/api/v1/reports", tenant="acme").json()
    globex_report = api.get("/api/v1/reports", tenant="globex").json()
    assert (acme_report["total"]["runs"], acme_report["total"]["finished"]) == (1, 0)
    assert (globex_report["total"]["runs"], globex_report["total"]["resolved"]) == (1, 1)


def test_another_tenants_eval_results_are_not_found_nor_listed(api: Api) -> None:
    acme = dataclasses.replace(eval_result("evr_acme0001"), tenant="acme")
    globex = dataclasses.replace(eval_result("evr_globex01"), tenant="globex")
    api.call(lambda: api.store.save_eval_result(acme))
    api.call(lambda: api.store.save_eval_result(globex))
    listed = api.get("/api/v1/evals", tenant="acme").json()["results"]
    assert [r["result_id"] for r in listed] == ["evr_acme0001"]
    listed = api.get("/api/v1/evals", tenant="globex").json()["results"]
    assert [r["result_id"] for r in listed] == ["evr_globex01"]
    same_as_missing(api, "/api/v1/evals/{}", "evr_missing1", "evr_acme0001")


def test_another_tenants_keys_are_not_listed_nor_revocable(api: Api) -> None:
    globex_keys = api.get("/api/v1/keys", tenant="globex").json()["keys"]
    assert {k["tenant"] for k in globex_keys} == {"globex"}
    acme_viewer = api.records["acme", "viewer"].key_id
    same_as_missing(api, "/api/v1/keys/{}", "key_00000000", acme_viewer, "DELETE")
    assert api.get("/api/v1/me", role="viewer", tenant="acme").status_code == 200


def test_ids_in_messages_are_only_the_ones_asked_for(api: Api, acme_run: tuple[str, str]) -> None:
    run_id, _ = acme_run
    message = error_of(api.get(f"/api/v1/runs/{run_id}", tenant="globex"), 404)[1]
    assert re.findall(r"run_[0-9a-f]{16}", message) == [run_id]
    assert "acme" not in message
