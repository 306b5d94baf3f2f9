"""The web UI: server-rendered pages over the same service as the API."""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Add the UI's pages and static assets to ``app``."""
