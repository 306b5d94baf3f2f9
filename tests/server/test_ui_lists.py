"""The runs list's search, sort orders, totals and keyboard markup, and a session's page,
through the ASGI app over the seeded invoice runs (read only: one store per module)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from proctor.examples.invoice import sample_input
from proctor.runtime import Runner, load_workflow_ref
from proctor.server import _ui_runs, create_server
from proctor.store import RunFilter, RunRecord, SQLiteStore
from server.ui_support import HOSTILE, SECRET, SESSION, Seeded, seed

ORIGIN = {"Origin": "https://testserver"}


@dataclass
class Site:
    client: TestClient
    seeded: Seeded
    runs: list[RunRecord]
    """The seeded runs of tenant default, newest first."""

    def get(self, path: str) -> httpx2.Response:
        return self.client.get(path, follow_redirects=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("lists")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROCTOR_HOME", str(folder / "home"))
        store = SQLiteStore(folder / "ui.db")

        async def seeded() -> tuple[Seeded, list[RunRecord]]:
            made = await seed(store)
            # Another tenant's run in a session of the same key: never shown to default.
            runner = Runner(store, load_workflow_ref("invoice_reconciliation"))
            await runner.start(sample_input("clean"), tenant="globex", session=SESSION)
            return made, await store.list_runs(RunFilter(tenant="default"))

        made, runs = asyncio.run(seeded())
        app = create_server(store, session_secret=SECRET, allowed_hosts=["testserver"])
        try:
            with TestClient(app, base_url="https://testserver") as client:
                response = client.post("/login", data={"key": made.keys["vera"]}, headers=ORIGIN)
                assert response.status_code == 200, response.text
                yield Site(client=client, seeded=made, runs=runs)
        finally:
            asyncio.run(store.close())


def run_ids(html: str) -> list[str]:
    return re.findall(r'<a class="mono" href="/runs/(run_\w+)" data-open>', html)


def totals_line(html: str) -> str:
    found = re.search(
        r'<p class="runs-totals" id="(?:runs|session)-totals"[^>]*>(.*?)</p>', html, re.S
    )
    assert found is not None, html
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def test_search_finds_tools_input_answers_and_run_ids(site: Site) -> None:
    runs = site.seeded.runs
    assert run_ids(site.get("/runs?search=wire_transfer").text) == [runs["gullible"]]
    assert totals_line(site.get("/runs?search=wire_transfer").text).startswith("1 run matches ·")
    northwind = run_ids(site.get("/runs?search=Northwind").text)
    assert set(northwind) == {runs["over_threshold"], runs["pushy"]}
    paid = set(run_ids(site.get("/runs?search=paid+invoice").text))
    assert paid == {run.run_id for run in site.runs if run.answer_text.startswith("Paid")}
    prefix = runs["hasty"][:10]
    assert runs["hasty"] in run_ids(site.get(f"/runs?search={prefix}").text)
    # Search narrows the other filters, and the form keeps what was typed (escaped).
    assert run_ids(site.get("/runs?search=wire_transfer&outcome=resolved").text) == []
    page = site.get("/runs?search=%3Cscript%3E").text
    assert 'value="&lt;script&gt;"' in page
    assert "No runs match these filters." in page


def test_totals_cover_every_matching_run_not_only_the_page(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    cost = sum(run.cost_usd or 0.0 for run in site.runs)
    tokens = sum(run.input_tokens + run.output_tokens for run in site.runs)
    whole = totals_line(site.get("/runs").text)
    assert whole.startswith(f"6 runs match · ${cost:.6f} · {tokens:,} tokens · showing 6")
    monkeypatch.setattr(_ui_runs, "PAGE", 2)  # now the store adds them up
    paged = site.get("/runs").text
    assert totals_line(paged).startswith(f"6 runs match · ${cost:.6f} · {tokens:,} tokens")
    assert "showing 2, newest first" in totals_line(paged)
    escalated = [run for run in site.runs if run.outcome == "escalated"]
    line = totals_line(site.get("/runs?outcome=escalated").text)
    assert line.startswith(f"{len(escalated)} runs match")
    monkeypatch.setattr(_ui_runs, "TOTALS_CAP", 3)  # a bounded pass: the newest 3
    newest = site.runs[:3]
    capped = totals_line(site.get("/runs").text)
    assert capped.startswith(
        f"3+ runs match · the newest 3: ${sum(r.cost_usd or 0.0 for r in newest):.6f}"
    )


@pytest.mark.parametrize("sort", list(_ui_runs.SORTS))
def test_every_order_pages_through_every_run_once(
    site: Site, sort: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ui_runs, "PAGE", 4)
    key = {
        "started": lambda r: (r.started_at, r.run_id),
        "cost": lambda r: (-1.0 if r.cost_usd is None else r.cost_usd, r.run_id),
        "duration": lambda r: (r.duration_s, r.run_id),
        "status": lambda r: (r.status, r.started_at, r.run_id),
    }[sort.lstrip("-")]
    expected = [r.run_id for r in sorted(site.runs, key=key, reverse=sort.startswith("-"))]
    seen: list[str] = []
    path: str | None = f"/runs?sort={sort}&search=invoice"
    while path is not None:
        html = site.get(path).text
        seen += run_ids(html)
        found = re.search(r'<a href="([^"]+)" rel="next"', html)
        path = None if found is None else found.group(1).replace("&amp;", "&")
        if path is not None:  # the order and the search carry over
            query = parse_qs(urlsplit(path).query)
            assert query["search"] == ["invoice"]
            assert query.get("sort", ["-started"]) == [sort]
    assert seen == expected


def test_column_headers_sort_and_say_how(site: Site) -> None:
    page = site.get("/runs?outcome=escalated").text
    # Newest first by default: Started is the sorted column, and Cost sorts costliest first.
    started = 'aria-sort="descending"><a class="sort-link" href="/runs?outcome=escalated&amp;'
    assert started + 'sort=started">Started' in page
    assert 'href="/runs?outcome=escalated&amp;sort=-cost">Cost' in page
    by_cost = site.get("/runs?outcome=escalated&sort=-cost").text
    assert started + 'sort=cost">Cost' in by_cost
    assert '<option value="-cost" selected>costliest first</option>' in by_cost


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("sort=price", "unknown sort"),
        ("session=chat%207", "characters a session key cannot"),
        ("search=" + "x" * 201, "more than 200"),
        ("sort=-cost&before=WzEuMCwicnVuX3giXQ", "made for another order"),
    ],
)
def test_a_bad_search_sort_or_session_is_an_html_400(site: Site, query: str, says: str) -> None:
    response = site.get(f"/runs?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert says in response.text


def test_a_session_page_shows_its_runs_in_start_order(site: Site) -> None:
    runs = site.seeded.runs
    listed = site.get(f"/runs?session={SESSION}").text
    assert run_ids(listed) == [runs["gullible"], runs["clean"]]  # newest first, as a list
    assert f'href="/sessions/{SESSION}">read it as a conversation' in listed
    assert listed.count(f'class="sub session-link" href="/sessions/{SESSION}"') == 2

    page = site.get(f"/sessions/{SESSION}").text
    assert run_ids(page) == [runs["clean"], runs["gullible"]]  # not globex's, in start order
    assert totals_line(page).startswith("2 runs in start order")
    assert "<dt>invoice_text</dt>" in page
    assert "Vendor: V-1001 Acme Supplies GmbH" in page
    assert '<div class="answer">Paid invoice INV-2026-0042' in page
    assert "No final answer (escalated)." in page

    run_page = site.get(f"/runs/{runs['clean']}").text
    assert f'<dt>Session</dt><dd class="clip" title="{SESSION}">' in run_page
    assert f'<a class="mono" href="/sessions/{SESSION}">{SESSION}</a>' in run_page
    assert "<dt>Session</dt>" not in site.get(f"/runs/{runs['hasty']}").text

    none = site.get("/sessions/chat-unknown").text
    assert "No runs of yours were started with this session key." in none
    bad = site.get("/sessions/" + "x" * 130)
    assert bad.status_code == 400
    assert "more than 128" in bad.text


def test_lists_carry_the_keyboard_markup(site: Site) -> None:
    for path in ("/runs", f"/sessions/{SESSION}", "/evals"):
        page = site.get(path).text
        assert "data-keynav" in page
        assert page.count("data-row") == page.count("data-open>")
        assert 'id="keys-hint"' in page
        script = re.search(r'src="(/static/ui/keys\.js\?v=[0-9a-f]+)"', page)
        assert script is not None
        assert "data-keynav" in site.get(script.group(1)).text
    assert "data-search" in site.get("/runs").text


def test_what_a_session_shows_is_escaped(site: Site) -> None:
    assert HOSTILE not in site.get(f"/runs?search={HOSTILE}").text
