"""Fixtures shared by every test: an isolated Proctor home and a store per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proctor.store import SQLiteStore, Store


@pytest.fixture(autouse=True)
def proctor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``PROCTOR_HOME`` at a fresh directory, so no test touches ``./.proctor``
    (nor exports spans to a developer's OpenTelemetry endpoint)."""
    home = tmp_path / "proctor-home"
    monkeypatch.setenv("PROCTOR_HOME", str(home))
    monkeypatch.delenv("PROCTOR_DB", raising=False)
    # A developer's OpenTelemetry settings must not turn on live export in tests.
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each backend (PostgreSQL joins as a second param)."""
    backend: Store
    if request.param == "sqlite":
        backend = SQLiteStore(tmp_path / "store.db")
    else:  # pragma: no cover - a new backend must be wired here
        raise AssertionError(f"unknown store backend {request.param!r}")
    try:
        yield backend
    finally:
        await backend.close()
