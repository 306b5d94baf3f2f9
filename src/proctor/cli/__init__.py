"""The ``proctor`` command."""

from __future__ import annotations

from proctor.cli._app import app, main

__all__ = ["app", "main"]
