"""The web UI in a real browser: Debian's Chromium, driven by Playwright, against a real
uvicorn server on a loopback port over a store of real (scripted, offline) invoice runs.

One server and one browser serve the module; each test has a fresh browser context (its
own cookies). A full-page screenshot of each page goes to
``$PROCTOR_TEST_OUTPUT/screenshots`` (default ``test-output/screenshots``).

Session cookies are ``Secure``, as in production: Chromium treats http://127.0.0.1 as a
secure context and keeps them (``test_sign_in_and_filter_runs`` checks it does).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from proctor.server import create_server
from proctor.store import SQLiteStore
from server.ui_support import SECRET, Seeded, seed
from support.browser import launch_chromium, shot, skip_without_chromium
from support.context_runs import EMAIL, Clerk, Reader, clerk_runner, reader_runner

skip_without_chromium()

from playwright.sync_api import Browser, ConsoleMessage, Page, expect  # noqa: E402

pytestmark = pytest.mark.slow

EVIDENCE_PEM = (
    Ed25519PrivateKey.generate()
    .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    .decode()
)


@dataclass
class Site:
    base: str
    seeded: Seeded
    compacted: str = ""
    """A run whose context was compacted (a summary, shortened results)."""
    redacted: str = ""
    """A run whose input held an e-mail address (a placeholder in the record)."""


async def seed_contexts(store: SQLiteStore) -> tuple[str, str]:
    """Two more runs, in oscar's tenant (globex), so tenant default's list stays as seeded."""
    reader = reader_runner(store, Reader(), context_tokens=600)
    compacted = await reader.start({}, started_by="oscar", tenant="globex")
    clerk = clerk_runner(store, Clerk())
    redacted = await clerk.start({"email": EMAIL}, started_by="oscar", tenant="globex")
    return compacted.run_id, redacted.run_id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real server over a seeded store, in a thread, on a free loopback port."""
    folder = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as env:
        # Runs started here and resumed by the server sign credentials with one key.
        env.setenv("PROCTOR_HOME", str(folder / "home"))
        env.setenv("PROCTOR_SIGNING_KEY", "browser-tests-signing-key-0123456789abcdef")
        # ...and sign their decisions with one evidence key (each test has its own home).
        env.setenv("PROCTOR_EVIDENCE_KEY", EVIDENCE_PEM)
        store = SQLiteStore(folder / "ui.db")
        seeded = asyncio.run(seed(store))
        compacted, redacted = asyncio.run(seed_contexts(store))
        app = create_server(store, session_secret=SECRET)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, name="ui-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start within 10 s"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Site(
                base=f"http://127.0.0.1:{port}",
                seeded=seeded,
                compacted=compacted,
                redacted=redacted,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            asyncio.run(store.close())


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    # After the site: Playwright's sync API runs an event loop in this thread, and the
    # site's seeding (asyncio.run) must come before it.
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # A script error, a refused CSP, a failed fetch; not the 401 of a refused sign-in.
        if message.type == "error" and "status of 401" not in message.text:
            problems.append(message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    yield tab
    context.close()
    assert problems == [], problems


def sign_in(page: Page, site: Site, who: str, start: str = "/runs") -> None:
    page.goto(site.base + start)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("API key").fill(site.seeded.keys[who])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.base + start)


def run_links(page: Page) -> list[str]:
    return page.locator("table.runs tbody a.mono").all_inner_texts()


def test_sign_in_and_filter_runs(page: Page, site: Site) -> None:
    page.goto(site.base + "/runs")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "login")
    page.get_by_label("API key").fill("prk_wrong_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown API key")

    page.get_by_label("API key").fill(site.seeded.keys["alice"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.base + "/runs")
    (cookie,) = page.context.cookies()
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    expect(page.locator(".who")).to_contain_text("alice (operator)")
    assert sorted(run_links(page)) == sorted(site.seeded.runs.values())
    shot(page, "runs")

    page.get_by_label("Outcome").select_option("escalated")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"outcome=escalated"))
    expect(page.locator("table.runs tbody tr")).to_have_count(4)
    expect(page.locator("table.runs tbody .badge")).to_have_text(["escalated"] * 4)
    assert site.seeded.runs["clean"] not in run_links(page)
    shot(page, "runs-escalated")


def test_open_a_trace_and_expand_a_policy_decision(page: Page, site: Site) -> None:
    sign_in(page, site, "vera")
    run_id = site.seeded.runs["pushy"]
    page.get_by_role("link", name=run_id).click()
    expect(page.locator(".run-title .badge")).to_have_text("escalated")
    deny = page.locator("button.tl-row", has_text="policy deny")
    expect(deny).to_have_attribute("aria-expanded", "false")
    deny.focus()
    page.keyboard.press("Enter")  # rows are buttons: the keyboard opens them too
    expect(deny).to_have_attribute("aria-expanded", "true")
    payload = page.locator(f"#{deny.get_attribute('aria-controls')} pre")
    expect(payload).to_contain_text('"rule": "approval.denied"')
    expect(payload).to_contain_text('"decision": "deny"')
    expect(payload).to_contain_text("the checker denied erp.create_payment")
    shot(page, "run")
    deny.click()
    expect(payload).to_be_hidden()


def test_approve_a_pending_payment_and_watch_the_run_finish(
    page: Page, browser: Browser, site: Site
) -> None:
    run_id = site.seeded.runs["over_threshold"]
    # alice, who started the run, keeps its page open while bob decides.
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    watcher = context.new_page()
    sign_in(watcher, site, "alice", start=f"/runs/{run_id}")
    expect(watcher.locator(".run-title .badge")).to_have_text("awaiting approval")
    expect(watcher.get_by_text("may not decide approvals")).to_be_visible()

    sign_in(page, site, "bob", start="/approvals")
    expect(page.get_by_role("link", name=re.compile("Approvals"))).to_contain_text("1")
    expect(page.get_by_text('"amount": 24500.0')).to_be_visible()
    shot(page, "approvals")
    page.get_by_label("Reason").fill("checked with accounts payable")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("the call was approved")
    expect(page.get_by_text("Nothing waits for a decision.")).to_be_visible()

    # alice's page follows the run (it polls, and reloads as the log grows).
    expect(watcher.locator(".run-title .badge")).to_have_text("resolved", timeout=15_000)
    expect(watcher.locator(".tl-label", has_text="approved by bob")).to_be_visible()
    expect(watcher.locator("[data-live]")).to_have_count(0)
    shot(watcher, "run-resolved")
    context.close()


def test_see_the_cost_report(page: Page, site: Site) -> None:
    sign_in(page, site, "vera", start="/reports")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(4)
    expect(page.locator("#escalations")).to_contain_text("policy violation")
    expect(page.locator("#cost-per-resolved rect.bar")).not_to_have_count(0)
    page.get_by_label("Group by").select_option("model")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table.report tbody")).to_contain_text("scripted:pushy")
    shot(page, "reports")


def test_see_eval_results_and_their_drift(page: Page, site: Site) -> None:
    sign_in(page, site, "vera", start="/evals")
    expect(page.locator("table.evals tbody tr")).to_have_count(2)
    shot(page, "evals")
    page.get_by_role("link", name=site.seeded.evals[1]).click()
    expect(page.get_by_role("alert")).to_contain_text("Newly failing: over_threshold")
    expect(page.locator("tr.failed-case")).to_contain_text("expected resolved, got escalated")
    shot(page, "eval")


SIDEWAYS = """() => {
  const page = document.scrollingElement;
  if (page.scrollWidth <= page.clientWidth) return [];
  return Array.from(document.querySelectorAll("body *"))
    .filter((e) => e.getBoundingClientRect().right > page.clientWidth + 1)
    .slice(0, 8)
    .map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""));
}"""


def sideways(page: Page) -> list[str]:
    """Nothing, if the page is no wider than its window (scrollWidth <= clientWidth); else
    the first elements that stick out, to name in the failure."""
    wide: list[str] = page.evaluate(SIDEWAYS)
    return wide


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_run_fits_the_window_and_opens_what_the_model_saw(
    browser: Browser, site: Site, scheme: str, width: int
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    # Any failed request but the icon the standalone receipt (no <link>s) makes Chromium ask for.
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    run_id = site.seeded.runs["pushy"]
    sign_in(page, site, "vera", start=f"/runs/{run_id}")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(255, 255, 255)")

    turn = page.locator("details.turn").nth(1)
    turn.locator("summary").click()
    sent = turn.locator(".msg")
    # Turn 2 was sent the instructions, the input, turn 1's call and its result; then
    # its own reply.
    expect(sent).to_have_count(5)
    expect(sent.locator(".msg-role")).to_have_text(
        ["system · instructions", "user · input", "assistant", "tool result", "assistant · reply"]
    )
    expect(sent.nth(3)).to_contain_text("ocr.parse_invoice")
    expect(turn).to_contain_text("Sent: 4 messages")
    assert sideways(page) == [], f"the run page scrolls sideways at {width} px"
    shot(page, f"run-turn-{scheme}-{width}")

    page.goto(f"{site.base}/runs/{run_id}/receipt")
    expect(page.locator("#tool-calls table")).to_be_visible()
    assert sideways(page) == [], f"the receipt scrolls sideways at {width} px"
    shot(page, f"receipt-{scheme}-{width}")

    page.goto(f"{site.base}/reports?since=24h")
    expect(page.locator("svg.chart").first).to_be_visible()
    assert sideways(page) == [], f"the reports page scrolls sideways at {width} px"
    shot(page, f"reports-day-{scheme}-{width}")
    context.close()
    assert problems == [], problems


def test_a_compacted_turn_and_a_redacted_one_show_what_the_record_holds(
    page: Page, site: Site
) -> None:
    sign_in(page, site, "oscar", start=f"/runs/{site.compacted}")
    turn = page.locator("details.turn", has=page.locator(".tag", has_text="compacted")).last
    expect(turn.locator("summary")).to_contain_text("✓ as sent")
    turn.locator("summary").click()
    expect(turn.locator(".compacted")).to_contain_text("became a summary")
    expect(turn.locator(".msg-role", has_text="summary of earlier turns")).to_have_count(1)
    expect(turn).to_contain_text("Exactly the messages the model was sent")
    shot(page, "run-turn-compacted")

    page.goto(f"{site.base}/runs/{site.redacted}")
    first = page.locator("details.turn").first
    expect(first.locator("summary")).to_contain_text("redacted view")
    first.locator("summary").click()
    expect(first.locator(".msg").nth(1)).to_contain_text("[email:")
    expect(first).not_to_contain_text(EMAIL)
    expect(first).to_contain_text("redaction replaced values in the record")
    shot(page, "run-turn-redacted")


def test_the_other_pages_read_in_the_dark_on_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(site.base + "/login")
    shot(page, "login-dark-390")
    sign_in(page, site, "bob", start="/approvals")
    eval_page = f"/evals/{site.seeded.evals[1]}"
    for path, name in (("/approvals", "approvals"), ("/evals", "evals"), (eval_page, "eval")):
        page.goto(site.base + path)
        color = page.evaluate("getComputedStyle(document.body).color")
        assert color == "rgb(230, 237, 243)", path
        assert sideways(page) == [], f"{path} scrolls sideways at 390 px"
        shot(page, f"{name}-dark-390")
    page.goto(site.base + "/runs")
    shot(page, "runs-dark-390")
    context.close()


def test_search_sort_and_totals(page: Page, site: Site) -> None:
    sign_in(page, site, "vera")
    expect(page.locator("#runs-totals")).to_contain_text(f"{len(site.seeded.runs)} runs match")
    page.get_by_label("Search").fill("wire_transfer")  # a tool only the gullible run proposed
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"search=wire_transfer"))
    assert run_links(page) == [site.seeded.runs["gullible"]]
    expect(page.locator("#runs-totals")).to_contain_text("1 run matches")
    shot(page, "runs-search")

    page.get_by_label("Search").fill("northwind")  # text in the input of two runs
    page.get_by_label("Search").press("Enter")
    expect(page.locator("table.runs tbody tr")).to_have_count(2)
    assert set(run_links(page)) == {site.seeded.runs["over_threshold"], site.seeded.runs["pushy"]}

    page.goto(site.base + "/runs")
    page.get_by_role("link", name="Cost").click()  # a column header sorts the list
    expect(page).to_have_url(re.compile(r"sort=-cost"))
    header = page.locator("th[aria-sort]")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(header).to_contain_text("Cost")
    costs = [
        float(c.strip("$"))
        for c in page.locator("table.runs tbody td.num:nth-child(4)").all_inner_texts()
    ]
    assert costs == sorted(costs, reverse=True)
    assert len(costs) == len(site.seeded.runs)
    expect(page.locator("#runs-totals")).to_contain_text("costliest first")
    shot(page, "runs-sorted")
    page.get_by_role("link", name="Cost").click()  # again: the other way
    expect(header).to_have_attribute("aria-sort", "ascending")
    cheapest = [
        float(c.strip("$"))
        for c in page.locator("table.runs tbody td.num:nth-child(4)").all_inner_texts()
    ]
    assert cheapest == sorted(costs)


def test_a_session_reads_as_a_conversation(page: Page, site: Site) -> None:
    sign_in(page, site, "vera")
    page.locator("a.session-link").first.click()
    expect(page).to_have_url(site.base + f"/sessions/{site.seeded.session}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(site.seeded.session)
    turns = page.locator("ol.conversation > li")
    expect(turns).to_have_count(2)
    # In start order: the clean run (answered), then the gullible one (escalated).
    expect(turns.nth(0).locator("a[data-open]")).to_have_text(site.seeded.runs["clean"])
    expect(turns.nth(1).locator("a[data-open]")).to_have_text(site.seeded.runs["gullible"])
    expect(turns.nth(0).locator(".said.in")).to_contain_text("Vendor: V-1001 Acme Supplies GmbH")
    expect(turns.nth(0).locator(".answer")).to_contain_text("Paid invoice")
    expect(turns.nth(1).locator(".said.out")).to_contain_text("No final answer (escalated)")
    expect(page.locator("#session-totals")).to_contain_text("2 runs in start order")
    shot(page, "session")
    turns.nth(1).get_by_role("link", name=site.seeded.runs["gullible"]).click()
    expect(page).to_have_url(site.base + f"/runs/{site.seeded.runs['gullible']}")


def test_lists_work_from_the_keyboard(page: Page, site: Site) -> None:
    sign_in(page, site, "vera")
    expect(page.locator("#keys-hint")).to_contain_text("j/k move")
    rows = page.locator("table.runs tbody tr")
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bkn-current\b"))
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bkn-current\b"))
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bkn-current\b"))
    shot(page, "runs-keyboard")
    second = rows.nth(1).locator("a[data-open]").inner_text()

    page.keyboard.press("/")  # to the search field; keys typed there are text
    search = page.get_by_label("Search")
    expect(search).to_be_focused()
    page.keyboard.type("jk")
    expect(search).to_have_value("jk")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bkn-current\b"))
    page.keyboard.press("Escape")
    expect(search).not_to_be_focused()

    page.keyboard.press("j")  # from where it was: the third row
    expect(rows.nth(2)).to_be_focused()
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    expect(page).to_have_url(site.base + f"/runs/{second}")

    page.goto(site.base + f"/sessions/{site.seeded.session}")  # the conversation too
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(site.base + f"/runs/{site.seeded.runs['gullible']}")

    page.goto(site.base + "/evals")  # and the eval results, newest first
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(site.base + f"/evals/{site.seeded.evals[-1]}")
