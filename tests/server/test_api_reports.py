"""``/api/v1/reports`` and ``/api/v1/evals``: outcome reports and stored eval results."""

from __future__ import annotations

import dataclasses
import json
import time
from functools import partial

import pytest

from proctor.examples import invoice
from server.api_harness import Api, contract_v2, error_of, record_run
from support.eval_results import eval_result

DAY = 86_400.0


def test_a_report_groups_the_tenants_runs(api: Api) -> None:
    now = time.time()
    store = api.store
    api.call(lambda: record_run(store, started_at=now - 3600))
    api.call(lambda: record_run(store, started_at=now - 7200, outcome="escalated"))
    api.call(lambda: record_run(store, started_at=now - 2 * DAY, contract=contract_v2()))
    api.call(lambda: record_run(store, started_at=now - 30 * DAY))  # outside the default 7d
    api.call(lambda: record_run(store, tenant="globex", started_at=now - 60))

    report = api.get("/api/v1/reports", role="viewer", group_by="version").json()
    assert report["group_by"] == "version"
    assert report["workflow"] is None
    assert report["since"].endswith("Z")
    total = report["total"]
    assert (total["key"], total["runs"], total["resolved"], total["escalated"]) == ("all", 3, 2, 1)
    assert total["escalation_rate"] == pytest.approx(1 / 3)
    assert total["latency_p50_s"] == 1.0
    keys = [row["key"] for row in report["rows"]]
    v1 = invoice.contract().content_hash[:12]
    assert keys[0] == f"invoice_reconciliation v1 ({v1})"  # most runs first
    assert len(keys) == 2
    assert report["tool_calls"] == [{"tool_calls": 0, "runs": 3}]
    assert report["escalations"] == []

    by_day = api.get("/api/v1/reports", since="40d", until="1d").json()
    assert by_day["group_by"] == "day"
    assert [row["runs"] for row in by_day["rows"]] == [1, 1]  # oldest day first
    assert api.get("/api/v1/reports", workflow="refunds").json()["total"]["runs"] == 0


def test_a_report_over_a_day_has_its_runs_by_hour_and_longer_ones_by_day(api: Api) -> None:
    now = time.time()
    store = api.store
    api.call(lambda: record_run(store, started_at=now - 3600))
    api.call(lambda: record_run(store, started_at=now - 3600, outcome="escalated"))
    api.call(lambda: record_run(store, started_at=now - 3 * DAY))

    day = api.get("/api/v1/reports", since="24h").json()
    assert day["series_unit"] == "hour"
    hours = day["series"]
    assert len(hours) in (24, 25)  # 25 unless the window starts on the hour
    assert all(p["label"].endswith(":00") and p["start"].endswith(":00:00.000Z") for p in hours)
    assert sum(p["runs"] for p in hours) == 2
    busy = next(p for p in hours if p["runs"])
    assert (busy["resolved"], busy["escalated"]) == (1, 1)
    assert sum(p["runs"] == 0 for p in hours) >= len(hours) - 2

    week = api.get("/api/v1/reports", since="7d").json()
    assert week["series_unit"] == "day"
    assert len(week["series"]) in (7, 8)  # today and the seven days before (in part)
    assert [p["runs"] for p in week["series"]][-4] == 1


@pytest.mark.parametrize(
    ("params", "code", "names"),
    [
        ({"since": "soon"}, "bad_request", "since='soon' is not a time"),
        ({"until": "later"}, "bad_request", "until='later' is not a time"),
        ({"since": "1d", "until": "2d"}, "bad_request", "is not before until"),
        ({"group_by": "tenant"}, "invalid_request", "query.group_by"),
    ],
)
def test_a_bad_report_window_or_grouping_names_the_fix(
    api: Api, params: dict[str, str], code: str, names: str
) -> None:
    found, message = error_of(api.get("/api/v1/reports", **params), 400)
    assert found == code
    assert names in message


def test_eval_results_list_newest_first_and_read_whole(api: Api) -> None:
    older = dataclasses.replace(eval_result("evr_a1", created_at=1000.0), tenant="acme")
    newer = dataclasses.replace(eval_result("evr_a2", created_at=2000.0, failed=1), tenant="acme")
    other = dataclasses.replace(eval_result("evr_r1", suite="refunds"), tenant="acme")
    for record in (older, newer, other):
        api.call(partial(api.store.save_eval_result, record))

    listed = api.get("/api/v1/evals", role="viewer").json()["results"]
    assert [r["result_id"] for r in listed] == ["evr_a2", "evr_r1", "evr_a1"]
    assert listed[0] == {
        "result_id": "evr_a2",
        "suite": "invoice",
        "workflow": "invoice_reconciliation",
        "created_at": "1970-01-01T00:33:20.000Z",
        "cases": 4,
        "passed": 3,
        "failed": 1,
        "model": "openai:gpt-4.1-mini",
        "contract_hash": "c" * 64,
    }
    by_suite = api.get("/api/v1/evals", suite="invoice", limit=1).json()["results"]
    assert [r["result_id"] for r in by_suite] == ["evr_a2"]

    detail = api.get("/api/v1/evals/evr_a2").json()
    assert detail["body"] == json.loads(newer.body or "")
    assert {k: v for k, v in detail.items() if k != "body"} == listed[0]


def test_a_missing_eval_result_is_not_found(api: Api) -> None:
    code, message = error_of(api.get("/api/v1/evals/evr_nope"), 404)
    assert code == "not_found"
    assert "evr_nope" in message
    assert error_of(api.get("/api/v1/evals", limit=0), 400)[0] == "invalid_request"
