"""The web UI: server-rendered pages over the same service as the API.

Pages: sign-in (an API key, or single sign-on), runs (filters, cursor pages), one run
(waterfall, payloads, approval), approvals, reports, eval results, the gateway's spend.
Jinja2 templates, one stylesheet and one small script, all shipped in the package (no
CDN, no web fonts); every page works without the script except for opening a row's
payload and following a running run live.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from proctor.server import (
    _ui_approvals,
    _ui_auth,
    _ui_evals,
    _ui_gateway,
    _ui_reports,
    _ui_runs,
    _ui_sso,
)
from proctor.server._ui_base import STATIC_DIR, STATIC_PATH


def mount(app: FastAPI) -> None:
    """Add the UI's pages and static assets to ``app``."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="ui-static")
    pages = (_ui_auth, _ui_sso, _ui_runs, _ui_approvals, _ui_reports, _ui_evals, _ui_gateway)
    for module in pages:
        app.include_router(module.router)
