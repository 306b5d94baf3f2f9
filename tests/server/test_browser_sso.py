"""Single sign-on in a real browser: Debian's Chromium (Playwright) signs in to a real
server through a real OpenID provider (oidc-provider, server.oidc_support).

The server is reached as ``localhost`` and the provider as ``127.0.0.1``: two sites, so
the provider's redirect back is a cross-site navigation, as with a provider on the
internet, and the ``SameSite`` cookies must still work. Screenshots go where
test_browser.py puts its own.
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

from proctor._sockets import listen
from proctor.server._serve import build_app
from proctor.store import SQLiteStore
from server.oidc_support import SECRET, SECRET_ENV, running_provider, sso_yaml
from support.browser import launch_chromium, shot, skip_without_chromium

skip_without_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.slow


@dataclass
class Site:
    base: str
    issuer: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser-sso")
    sock = listen("127.0.0.1", 0)
    base = f"http://localhost:{sock.getsockname()[1]}"
    with (
        pytest.MonkeyPatch.context() as env,
        running_provider(f"{base}/login/sso/callback") as issuers,
    ):
        env.setenv("PROCTOR_HOME", str(folder / "home"))
        env.setenv(SECRET_ENV, SECRET)
        config = folder / "proctor.yaml"
        config.write_text(sso_yaml(issuers.main))
        store = SQLiteStore(folder / "sso.db")
        app = build_app(store, home=folder / "home", config=str(config))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sso-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start within 10 s"
            time.sleep(0.01)
        try:
            yield Site(base=base, issuer=issuers.main)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            asyncio.run(store.close())


@pytest.fixture(scope="module")
def chromium(site: Site) -> Iterator[object]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def page(chromium: object) -> Iterator[Page]:
    from playwright.sync_api import Browser

    assert isinstance(chromium, Browser)
    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def at_provider(page: Page, login: str) -> None:
    expect(page.locator('input[name="login"]')).to_be_visible()
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("anything")
    page.locator('button[type="submit"]').click()


def test_a_person_signs_in_with_single_sign_on_and_out_again(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/approvals")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fapprovals"))
    shot(page, "login-sso")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    expect(page).to_have_url(re.compile(re.escape(site.issuer)))
    at_provider(page, "alice")

    # Back on the page she asked for, signed in: the cookie came through the cross-site
    # redirect and the page that moves on from it.
    expect(page).to_have_url(f"{site.base}/approvals")
    expect(page.locator(".who")).to_contain_text("alice@example.com (operator+approver)")
    session = [c for c in page.context.cookies() if c["name"] == "proctor_session"]
    assert [(c["httpOnly"], c["sameSite"]) for c in session] == [(True, "Strict")]
    shot(page, "signed-in-sso")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{site.base}/login")
    page.goto(f"{site.base}/runs")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_a_person_without_a_role_sees_why(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/login")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    at_provider(page, "carol")
    expect(page.get_by_role("heading", name="Signed in, but not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("marketing")
    shot(page, "sso-no-role")
    assert not [c for c in page.context.cookies() if c["name"] == "proctor_session"]
