"""Debian's Chromium under Playwright, for the browser tests: where it is, how it starts
headless on a closed network, and where screenshots go.

A test module calls ``skip_without_chromium()`` before importing Playwright: the tests
are skipped on a machine without it, and fail on CI (``CI=true``), which must have it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
# Without these, Chromium's connection attempts to the closed network fail at each start.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(os.environ.get("PROCTOR_TEST_OUTPUT", "test-output")) / "screenshots"


def skip_without_chromium() -> None:
    """Skip the calling test module where Chromium is absent, except on CI."""
    if not CHROMIUM.exists() and os.environ.get("CI") != "true":
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium "
            "(make test installs it)",
            allow_module_level=True,
        )


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """A headless Chromium for the tests of a module (a missing one fails, on CI)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():  # only on CI, where a missing browser is a failure
        pytest.fail(f"Chromium is missing at {CHROMIUM}; CI must install it (apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield launched
        launched.close()


def shot(page: Page, name: str) -> None:
    """Save a screenshot of the whole page as ``SHOTS/NAME.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
