"""``GET /api/v1/runs``: filters, time forms, contract versions, and cursor pages."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from proctor.examples import invoice
from server.api_harness import Api, contract_v2, error_of, record_run

HOUR = 3600.0


def ids(page: dict[str, Any]) -> list[str]:
    return [run["run_id"] for run in page["runs"]]


def listed(api: Api, **params: Any) -> list[str]:
    response = api.get("/api/v1/runs", **params)
    assert response.status_code == 200, response.text
    return ids(response.json())


def test_cursor_pages_cover_every_run_once_newest_first(api: Api) -> None:
    now = time.time()
    # Three runs share a start time: the cursor's tie-break (run id) must keep them apart.
    starts = [now - 10, now - 20, now - 20, now - 20, now - 30, now - 40, now - 50]
    made = [
        api.call(partial(record_run, api.store, started_at=at, run_id=f"run_fixed{n:011x}"))
        for n, at in enumerate(starts)
    ]
    api.call(lambda: record_run(api.store, tenant="globex"))  # never on acme's pages
    expected = sorted(made, key=lambda rid: (-starts[made.index(rid)], [-ord(c) for c in rid]))

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = api.get("/api/v1/runs", role="viewer", **params).json()
        pages.append(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [rid for p in pages for rid in p] == expected
    assert listed(api, limit=500) == expected


def test_a_full_last_page_has_no_next_cursor(api: Api) -> None:
    for _ in range(4):
        api.call(lambda: record_run(api.store))
    first = api.get("/api/v1/runs", limit=2).json()
    second = api.get("/api/v1/runs", limit=2, cursor=first["next_cursor"]).json()
    assert len(second["runs"]) == 2
    assert second["next_cursor"] is None


def test_cursors_page_through_a_filtered_list(api: Api) -> None:
    for n in range(5):
        api.call(partial(record_run, api.store, outcome="escalated" if n % 2 else "resolved"))
    first = api.get("/api/v1/runs", outcome="resolved", limit=2).json()
    rest = api.get("/api/v1/runs", outcome="resolved", limit=2, cursor=first["next_cursor"])
    assert len(ids(first)) + len(ids(rest.json())) == 3
    assert rest.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        base64.urlsafe_b64encode(b"plain text").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "run_1"]').decode(),
    ],
)
def test_a_bad_cursor_is_a_bad_request_naming_the_fix(api: Api, cursor: str) -> None:
    code, message = error_of(api.get("/api/v1/runs", cursor=cursor), 400)
    assert code == "bad_request"
    assert "next_cursor of the previous page" in message


@pytest.mark.parametrize(("limit", "status"), [(0, 400), (501, 400), (1, 200), (500, 200)])
def test_the_page_size_is_1_to_500(api: Api, limit: int, status: int) -> None:
    assert api.get("/api/v1/runs", limit=limit).status_code == status


def test_filters_by_workflow_status_outcome_and_model(api: Api) -> None:
    store = api.store
    resolved = api.call(lambda: record_run(store))
    escalated = api.call(lambda: record_run(store, outcome="escalated"))
    running = api.call(lambda: record_run(store, outcome=None))
    other_model = api.call(lambda: record_run(store, model="openai:gpt-4o-mini"))
    refunds = api.call(lambda: record_run(store, workflow="refunds"))

    assert set(listed(api, workflow="refunds")) == {refunds}
    assert set(listed(api, status="running")) == {running}
    assert set(listed(api, outcome="escalated")) == {escalated}
    assert set(listed(api, model="openai:gpt-4o-mini")) == {other_model}
    assert set(listed(api, outcome="resolved", model="scripted:procedure")) == {
        resolved,
        refunds,
    }
    assert listed(api, workflow="nothing") == []


@pytest.mark.parametrize(("name", "value"), [("status", "done"), ("outcome", "great")])
def test_an_unknown_status_or_outcome_lists_the_known_ones(api: Api, name: str, value: str) -> None:
    code, message = error_of(api.get("/api/v1/runs", **{name: value}), 400)
    assert code == "invalid_request"
    assert f"query.{name}" in message
    assert "'finished'" in message or "'resolved'" in message


def test_since_and_until_take_iso_epoch_and_ages(api: Api) -> None:
    now = time.time()
    old = api.call(lambda: record_run(api.store, started_at=now - 48 * HOUR))
    recent = api.call(lambda: record_run(api.store, started_at=now - 2 * HOUR))
    day_ago = now - 24 * HOUR
    iso = datetime.fromtimestamp(day_ago, UTC).isoformat(timespec="seconds")
    for since in ("24h", "1d", iso, iso.replace("+00:00", "Z"), str(int(day_ago))):
        assert listed(api, since=since) == [recent], since
        assert listed(api, until=since) == [old], since
    assert listed(api, since="3d", until="1h") == [recent, old]
    assert listed(api, since="1h") == []


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_time_that_is_not_one_names_the_forms(api: Api, name: str) -> None:
    code, message = error_of(api.get("/api/v1/runs", **{name: "last tuesday"}), 400)
    assert code == "bad_request"
    assert f"{name}='last tuesday' is not a time" in message
    assert "7d" in message
    assert "ISO 8601" in message


def test_version_is_a_content_hash_its_prefix_or_a_label_with_the_workflow(api: Api) -> None:
    one, two = invoice.contract(), contract_v2()
    first = api.call(lambda: record_run(api.store, contract=one))
    second = api.call(lambda: record_run(api.store, contract=two))
    flow = "invoice_reconciliation"
    assert listed(api, version=two.content_hash) == [second]
    assert listed(api, version=two.content_hash[:8]) == [second]
    assert listed(api, version=one.content_hash[:8].upper()) == [first]
    assert listed(api, version="2", workflow=flow) == [second]
    assert listed(api, version="v1", workflow=flow) == [first]
    assert listed(api, version="9", workflow=flow) == []
    assert listed(api, version="0" * 64) == []
    run = api.get(f"/api/v1/runs/{second}").json()
    assert (run["contract_hash"], run["contract_version"]) == (two.content_hash, "2")


def test_a_version_label_needs_its_workflow(api: Api) -> None:
    code, message = error_of(api.get("/api/v1/runs", version="v2"), 400)
    assert code == "bad_request"
    assert "add workflow=NAME" in message
