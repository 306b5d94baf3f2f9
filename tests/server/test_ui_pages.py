"""The web UI's pages through the ASGI app: signing in and out, redirects, tenant
isolation, CSRF refusals, the approvals form, escaping, and every page rendering."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from proctor.examples.invoice import sample_input
from proctor.runtime import Runner, load_workflow_ref
from proctor.server import _ui_approvals, _ui_runs, create_server
from proctor.server._auth import SESSION_COOKIE
from proctor.store import SQLiteStore
from server.ui_support import HOSTILE, SECRET, Seeded, seed

ORIGIN = {"Origin": "https://testserver"}
PAGES = ("/runs", "/approvals", "/reports", "/evals")


@dataclass
class Ui:
    client: TestClient
    seeded: Seeded

    def sign_in(self, who: str) -> None:
        self.client.cookies.clear()
        response = self.client.post(
            "/login", data={"key": self.seeded.keys[who]}, headers=ORIGIN, follow_redirects=False
        )
        assert response.status_code == 303, response.text

    def get(self, path: str) -> httpx2.Response:
        return self.client.get(path, follow_redirects=False)

    def decide(
        self, approval: str, decision: str, reason: str = "", **extra: str
    ) -> httpx2.Response:
        return self.client.post(
            f"/approvals/{approval}",
            data={"decision": decision, "reason": reason, **extra},
            headers=ORIGIN,
            follow_redirects=False,
        )


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[Ui]:
    store = SQLiteStore(tmp_path / "ui.db")
    seeded = asyncio.run(seed(store, hostile=True))
    app = create_server(store, session_secret=SECRET, allowed_hosts=["testserver"])
    try:
        with TestClient(app, base_url="https://testserver") as client:
            yield Ui(client=client, seeded=seeded)
    finally:
        asyncio.run(store.close())


def run_ids(html: str) -> list[str]:
    return re.findall(r'<a class="mono" href="/runs/(run_\w+)"', html)


def pending_approval(ui: Ui) -> str:
    page = ui.get("/approvals").text
    found = re.search(r'action="/approvals/(ap_\w+)"', page)
    assert found is not None, page
    return found.group(1)


# Signing in and out ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/runs?outcome=resolved", "/evals/evr_x"])
def test_pages_redirect_to_sign_in_with_the_page_to_return_to(ui: Ui, path: str) -> None:
    response = ui.get(path)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


def test_a_form_posted_signed_out_returns_to_its_page_after_sign_in(ui: Ui) -> None:
    run = ui.seeded.runs["over_threshold"]
    response = ui.client.post(
        "/approvals/ap_x",
        data={"decision": "approve"},
        headers={**ORIGIN, "Referer": f"https://testserver/runs/{run}"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query)["next"] == [f"/runs/{run}"]


def test_fragments_answer_401_when_signed_out(ui: Ui) -> None:
    run = ui.seeded.runs["clean"]
    for path in (f"/ui/runs/{run}/events/0", f"/ui/runs/{run}/status"):
        response = ui.get(path)
        assert response.status_code == 401
        assert response.json() == {"error": "sign in again"}


def test_sign_in_sets_a_strict_session_cookie_and_sign_out_clears_it(ui: Ui) -> None:
    assert ui.get("/").headers["location"] == "/runs"
    form = ui.get("/login?next=/approvals")
    assert form.status_code == 200
    assert 'name="key"' in form.text
    assert 'value="/approvals"' in form.text

    response = ui.client.post(
        "/login",
        data={"key": ui.seeded.keys["alice"], "next": "/approvals"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/approvals"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/", "Max-Age=43200"):
        assert attribute in cookie
    assert ui.seeded.keys["alice"] not in cookie  # the key never becomes the cookie

    page = ui.get("/runs")
    assert page.status_code == 200
    assert "<strong>alice</strong> (operator)" in page.text
    assert "tenant <strong>default</strong>" in page.text
    # Signed in, the form sends one on to where they were going.
    assert ui.get("/login?next=/reports").headers["location"] == "/reports"

    out = ui.client.post("/logout", headers=ORIGIN, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert ui.get("/runs").status_code == 303


def test_a_bad_key_shows_the_form_again_with_the_reason(ui: Ui) -> None:
    for key, status, message in (
        ("prk_nope_nope", 401, "unknown API key"),
        ("hunter2", 401, "not a Proctor API key"),
        ("", 400, "Paste an API key"),
    ):
        response = ui.client.post("/login", data={"key": key}, headers=ORIGIN)
        assert response.status_code == status
        assert message in response.text
        assert 'name="key"' in response.text
        assert "Traceback" not in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_an_ended_session_says_so(ui: Ui) -> None:
    ui.client.cookies.set(SESSION_COOKIE, "not-a-session")
    response = ui.get("/runs")
    assert response.status_code == 303
    assert "ended=1" in response.headers["location"]
    assert "Your session ended" in ui.client.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/approvals?x=1", "/approvals?x=1"),
        ("https://evil.example/", "/runs"),
        ("//evil.example/", "/runs"),
        ("/\\evil.example", "/runs"),
        ("javascript:alert(1)", "/runs"),
        ("", "/runs"),
    ],
)
def test_sign_in_returns_only_to_local_paths(ui: Ui, target: str, lands: str) -> None:
    response = ui.client.post(
        "/login",
        data={"key": ui.seeded.keys["vera"], "next": target},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.headers["location"] == lands


# CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/x"},
    ],
)
def test_posts_from_other_sites_are_refused(ui: Ui, headers: dict[str, str]) -> None:
    login = ui.client.post("/login", data={"key": ui.seeded.keys["bob"]}, headers=headers)
    assert login.status_code == 403
    assert "not sent from this server" in login.text
    assert SESSION_COOKIE not in login.headers.get("set-cookie", "")

    ui.sign_in("bob")
    approval = pending_approval(ui)
    response = ui.client.post(
        f"/approvals/{approval}", data={"decision": "approve"}, headers=headers
    )
    assert response.status_code == 403
    assert "not sent from this server" in response.text
    assert f'action="/approvals/{approval}"' in response.text  # still pending
    assert ui.client.post("/logout", headers=headers).status_code == 403
    assert ui.get("/runs").status_code == 200  # still signed in


def test_a_same_site_referer_is_enough_without_origin(ui: Ui) -> None:
    response = ui.client.post(
        "/login",
        data={"key": ui.seeded.keys["vera"]},
        headers={"Referer": "https://testserver/login"},
        follow_redirects=False,
    )
    assert response.status_code == 303


# Runs ---------------------------------------------------------------------------------------


def test_runs_list_filters_by_outcome_status_model_and_version(ui: Ui) -> None:
    ui.sign_in("vera")
    runs = ui.seeded.runs
    everything = run_ids(ui.get("/runs").text)
    assert set(everything) == set(runs.values())  # tenant default only: not oscar's run
    assert ui.seeded.other_run not in everything

    escalated = run_ids(ui.get("/runs?outcome=escalated").text)
    assert set(escalated) == {runs[k] for k in ("pushy", "gullible", "rechecker", "hasty")}
    waiting = run_ids(ui.get("/runs?status=awaiting_approval").text)
    assert waiting == [runs["over_threshold"]]
    pushy = run_ids(ui.get("/runs?model=scripted:pushy&since=24h").text)
    assert pushy == [runs["pushy"]]

    page = ui.get("/runs").text
    version = re.search(r'<option value="([0-9a-f]{64})">invoice_reconciliation v1', page)
    assert version is not None, "the contract version is offered as a filter"
    assert set(run_ids(ui.get(f"/runs?version={version.group(1)}").text)) == set(everything)
    assert run_ids(ui.get("/runs?version=" + "0" * 64).text) == []
    assert "No runs match these filters." in ui.get("/runs?workflow=nope").text


def test_runs_list_pages_by_cursor(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ui_runs, "PAGE", 3)
    ui.sign_in("vera")
    seen: list[str] = []
    path: str | None = "/runs?outcome=escalated"
    pages = 0
    while path is not None:
        html = ui.get(path).text
        seen += run_ids(html)
        pages += 1
        older = re.search(r'<a href="([^"]+)" rel="next"', html)
        path = None if older is None else older.group(1).replace("&amp;", "&")
        if path is not None:
            assert "outcome=escalated" in path  # filters carry over to the next page
    assert pages == 2
    assert len(seen) == len(set(seen)) == 4
    assert "← Newest runs" in html


@pytest.mark.parametrize(
    "query", ["outcome=great", "status=paused", "since=1y", "before=yesterday~run_x"]
)
def test_a_bad_filter_is_an_html_400(ui: Ui, query: str) -> None:
    ui.sign_in("vera")
    response = ui.get(f"/runs?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "That request is not valid" in response.text
    assert "Traceback" not in response.text


def test_run_page_shows_header_waterfall_and_payloads(ui: Ui) -> None:
    ui.sign_in("vera")
    run_id = ui.seeded.runs["pushy"]
    response = ui.get(f"/runs/{run_id}")
    assert response.headers["content-encoding"] == "gzip"  # a long page travels compressed
    page = response.text
    assert '<span class="badge b-escalated">escalated</span>' in page
    assert "invoice_reconciliation v1" in page
    for text in (
        "model scripted:pushy · turn 1",
        "tool erp.create_payment",
        "policy deny",
        "approval.denied",
        "credential issued",
        "escalated (handoff)",
        "alice",
    ):
        assert text in page, text
    assert "data-live" not in page  # finished: nothing to follow

    deny = re.search(
        r'data-seq="(\d+)"[^>]*>\s*<span class="tl-at">[^<]*</span>\s*<span '
        r'class="tl-what d2" title="policy deny',
        page,
    )
    assert deny is not None
    payload = ui.get(f"/ui/runs/{run_id}/events/{deny.group(1)}")
    assert payload.status_code == 200
    data = payload.json()["data"]
    assert (data["type"], data["decision"], data["rule"]) == (
        "policy_decided",
        "deny",
        "approval.denied",
    )
    assert "checker denied" in data["reason"]
    assert ui.get(f"/ui/runs/{run_id}/events/999").status_code == 404
    assert ui.get(f"/ui/runs/{run_id}/events/x").status_code == 400

    status = ui.get(f"/ui/runs/{run_id}/status").json()
    assert status == {"status": "finished", "outcome": "escalated", "last_seq": status["last_seq"]}
    receipt = ui.get(f"/runs/{run_id}/receipt")
    assert receipt.status_code == 200
    assert "Chain verified: yes" in receipt.text


def test_run_page_lists_model_turns_whose_context_the_session_reads(ui: Ui) -> None:
    ui.sign_in("vera")
    run_id = ui.seeded.runs["clean"]
    page = ui.get(f"/runs/{run_id}").text
    turns = re.findall(r'<details class="turn" id="turn-(\d+)" data-turn="\d+">', page)
    assert turns == ["1", "2", "3", "4", "5", "6"]
    assert f'data-turns="/api/v1/runs/{run_id}/turns"' in page
    assert "→ ocr.parse_invoice" in page
    assert "→ answer" in page
    assert "compacted" not in page  # this contract sets no context budget
    # The page's script reads the turns with the session cookie, as the API's key would.
    body = ui.get(f"/api/v1/runs/{run_id}/turns").json()
    assert [t["turn"] for t in body["turns"]] == [1, 2, 3, 4, 5, 6]
    sixth = body["turns"][5]
    sent = [body["messages"][i]["kind"] for i in sixth["context"]]
    assert sent == ["instructions", "input", *["assistant", "result"] * 5]
    assert f"{sixth['input_tokens']:,} in / {sixth['output_tokens']:,} out" in page


def test_a_waiting_run_offers_its_approval_and_follows_live(ui: Ui) -> None:
    ui.sign_in("bob")
    page = ui.get(f"/runs/{ui.seeded.runs['over_threshold']}").text
    assert "Waiting for approval" in page
    assert 'data-live="/ui/runs/' in page
    assert 'data-status="awaiting_approval"' in page
    assert "&#34;amount&#34;: 24500.0" in page
    assert 'value="approve"' in page
    assert 'value="deny"' in page


def test_another_tenants_run_is_not_found(ui: Ui) -> None:
    ui.sign_in("alice")
    other = ui.seeded.other_run
    for path in (f"/runs/{other}", f"/runs/{other}/receipt"):
        response = ui.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert f"no run {other!r} in tenant 'default'" in response.text.replace("&#39;", "'")
    assert ui.get(f"/ui/runs/{other}/events/0").status_code == 404
    assert ui.get(f"/ui/runs/{other}/status").status_code == 404

    ui.sign_in("oscar")
    assert run_ids(ui.get("/runs").text) == [other]
    assert ui.get(f"/runs/{ui.seeded.runs['clean']}").status_code == 404
    assert "Nothing waits for a decision." in ui.get("/approvals").text
    assert ui.get(f"/evals/{ui.seeded.evals[0]}").status_code == 404
    assert ui.seeded.evals[0] not in ui.get("/evals").text


# Approvals ----------------------------------------------------------------------------------


def test_approving_from_the_inbox_resumes_the_run(ui: Ui) -> None:
    run_id = ui.seeded.runs["over_threshold"]
    ui.sign_in("bob")
    approval = pending_approval(ui)
    inbox = ui.get("/approvals").text
    assert '<span class="count" aria-label="1 pending">1</span>' in inbox
    assert "&#34;amount&#34;: 24500.0" in inbox
    assert "approval.erp.create_payment" in inbox

    refused = ui.decide(approval, "deny")
    assert refused.status_code == 400
    assert "a denial needs a reason" in refused.text

    done = ui.decide(approval, "approve", "checked with AP", next=f"/runs/{run_id}")
    assert done.status_code == 303
    assert done.headers["location"] == f"/runs/{run_id}?decided=approved"
    deadline = time.monotonic() + 10
    while ui.get(f"/ui/runs/{run_id}/status").json()["status"] != "finished":
        assert time.monotonic() < deadline, "the approved run did not finish"
        time.sleep(0.02)
    page = ui.get(done.headers["location"]).text
    assert "You approved the call" in page
    assert '<span class="badge b-resolved">resolved</span>' in page
    assert "approved by bob" in page

    inbox = ui.get("/approvals").text
    assert "Nothing waits for a decision." in inbox
    assert "checked with AP" in inbox  # recently decided
    again = ui.decide(approval, "approve")
    assert again.status_code == 409
    assert "already approved" in again.text


def test_the_inbox_shows_a_page_of_pending_approvals_oldest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ui_approvals, "PAGE", 1)
    store = SQLiteStore(tmp_path / "paged.db")

    async def two_waiting() -> Seeded:
        seeded = await seed(store)
        runner = Runner(store, load_workflow_ref("invoice_reconciliation"))
        await runner.start(
            sample_input("over_threshold"), model="scripted:procedure", started_by="alice"
        )
        return seeded

    seeded = asyncio.run(two_waiting())
    app = create_server(store, session_secret=SECRET, allowed_hosts=["testserver"])
    try:
        with TestClient(app, base_url="https://testserver") as client:
            ui = Ui(client=client, seeded=seeded)
            ui.sign_in("bob")
            first = ui.get("/approvals").text
            assert '<span class="count" aria-label="2 pending">2</span>' in first
            oldest = re.findall(r'action="/approvals/(ap_\w+)"', first)
            assert len(oldest) == 1
            found = re.search(r'<a href="(/approvals\?after=[^"]+)" rel="next"', first)
            assert found is not None, first
            second = ui.get(found.group(1).replace("&amp;", "&")).text
            newest = re.findall(r'action="/approvals/(ap_\w+)"', second)
            assert len(newest) == 1
            assert newest != oldest
            assert 'rel="next"' not in second
            assert '<a href="/approvals">← Oldest requests</a>' in second
            damaged = ui.get("/approvals?after=damaged")
            assert damaged.status_code == 400
            assert "start again from the first page of approvals" in damaged.text
    finally:
        asyncio.run(store.close())


def test_who_may_decide_is_enforced_and_explained(ui: Ui) -> None:
    ui.sign_in("alice")  # an operator
    approval = pending_approval_id(ui)
    page = ui.get("/approvals").text
    assert "may not decide approvals" in page
    assert 'value="approve"' not in page
    forbidden = ui.decide(approval, "approve")
    assert forbidden.status_code == 403
    assert "may not decide approvals" in forbidden.text

    ui.sign_in("alice-admin")  # may decide, but alice started this run
    assert "separation of duties" in ui.get("/approvals").text
    response = ui.decide(approval, "approve")
    assert response.status_code == 403
    assert "separation of duties" in response.text
    assert response.headers["content-type"].startswith("text/html")


def pending_approval_id(ui: Ui) -> str:
    found = re.search(r"ap-(ap_\w+)", ui.get("/approvals").text)
    assert found is not None
    return found.group(1)


# Escaping, reports, evals, headers ------------------------------------------------------------


def test_what_users_and_runs_wrote_is_escaped(ui: Ui) -> None:
    ui.sign_in(HOSTILE)
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    run_id = ui.seeded.runs["hostile"]
    for path in ("/runs", f"/runs/{run_id}", "/approvals"):
        html = ui.get(path).text
        assert HOSTILE not in html, path
        assert escaped in html, path
    login = ui.client.post("/login", data={"key": "x", "next": HOSTILE}, headers=ORIGIN)
    assert HOSTILE not in login.text


def test_reports_page_draws_its_charts(ui: Ui) -> None:
    ui.sign_in("vera")
    page = ui.get("/reports").text
    assert page.count('<svg class="chart"') == 4
    for chart in ("runs-started", "cost-per-resolved", "escalations", "tool-calls"):
        assert f'id="{chart}"' in page
    assert "Runs started, by day (UTC)" in page  # the default window is 7 days
    # The last 24 hours: a bar per hour, the empty ones zero; the seeded runs in this one.
    day = ui.get("/reports?since=24h").text
    assert "Cost per resolved task, by hour (UTC)" in day
    runs = re.search(r'<svg class="chart" id="runs-started".*?</svg>', day, re.S)
    assert runs is not None
    tips = re.findall(r"<title>(\d{4}-\d\d-\d\d \d\d:00-\d\d:00 UTC): (\d+)</title>", runs[0])
    assert len(tips) in (24, 25)  # 25 unless the window starts on the hour
    assert sum(int(n) for _, n in tips) == len(ui.seeded.runs)
    assert sum(n == "0" for _, n in tips) >= 23
    assert re.search(r'text-anchor="middle">\d\d:00</text>', runs[0])
    assert "policy violation" in page  # an escalation trigger, as a bar
    assert '<th scope="row" class="clip" title="invoice_reconciliation">' in page
    for group in ("model", "version", "day"):
        response = ui.get(f"/reports?since=30d&group_by={group}")
        assert response.status_code == 200, response.text
    assert "scripted:pushy" in ui.get("/reports?group_by=model").text
    assert ui.get("/reports?since=1y").status_code == 400
    assert ui.get("/reports?group_by=colour").status_code == 400
    assert "No runs in this period." in ui.get("/reports?workflow=nope").text


def test_eval_pages_show_cases_failures_and_drift(ui: Ui) -> None:
    ui.sign_in("vera")
    first, second = ui.seeded.evals
    listing = ui.get("/evals").text
    assert listing.index(second) < listing.index(first)  # newest first
    page = ui.get(f"/evals/{second}").text
    assert "Newly failing: over_threshold" in page
    assert "expected resolved, got escalated" in page
    assert f'href="/evals/{first}"' in page
    assert "pass rate" in page
    assert "changed beyond threshold" in page
    assert "first stored result" in ui.get(f"/evals/{first}").text
    assert ui.get("/evals/evr_nope").status_code == 404


def test_pages_send_security_headers_and_static_assets_load(ui: Ui) -> None:
    ui.sign_in("vera")
    for path in PAGES:
        response = ui.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    page = ui.get("/runs").text
    for asset in re.findall(r'(?:href|src)="(/static/ui/[^"]+)"', page):
        assert ui.get(asset.replace("&amp;", "&")).status_code == 200
    assert 'class="skip" href="#main"' in page
    assert "<script>" not in page  # no inline script: the CSP would refuse it anyway


def test_run_page_says_whether_the_chain_verifies(ui: Ui, tmp_path: Path) -> None:
    ui.sign_in("vera")
    clean, pushy = ui.seeded.runs["clean"], ui.seeded.runs["pushy"]
    page = ui.get(f"/runs/{clean}").text
    assert "✓ Hash chain verified:" in page
    assert "each commit MACed" in page
    assert "signed through event" in page
    # Whoever holds the database edits an event after it was written.
    with closing(sqlite3.connect(tmp_path / "ui.db")) as db:
        db.execute(
            "UPDATE events SET meta = replace(meta, 'erp.create_payment', 'erp.other') "
            "WHERE run_id = ? AND type = 'policy_decided'",
            (pushy,),
        )
        db.commit()
    broken = ui.get(f"/runs/{pushy}").text
    found = re.search(r"✗ Hash chain broken at event (\d+)", broken)
    assert found is not None, broken
    assert "proctor audit verify" in broken
    assert "✓ Hash chain verified" not in broken


def test_the_approval_card_says_what_the_checker_already_decided(ui: Ui) -> None:
    # The shipped contract: a checker model looks first, and its "yes" waits for a person.
    ui.sign_in("vera")
    inbox = ui.get("/approvals").text
    verdict = re.search(r'<dd class="checker-verdict">(.*?)</dd>', inbox, re.DOTALL)
    assert verdict is not None, inbox
    assert '<strong class="ok">approved</strong>' in verdict.group(1)
    assert "scripted:checker" in verdict.group(1)
    assert "matches its open PO" in verdict.group(1)
    run = ui.seeded.runs["over_threshold"]
    assert 'class="checker-verdict"' in ui.get(f"/runs/{run}").text
