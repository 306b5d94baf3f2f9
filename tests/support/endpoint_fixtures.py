"""Fixtures the gateway endpoint's tests share (a pytest plugin of tests/conftest.py): a
fake OpenAI-compatible upstream with the keys their ``proctor.yaml`` mappings name, and a
SQLite store. A test module's own fixture of the same name takes precedence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proctor.store import SQLiteStore
from support.fake_openai import FakeOpenAIServer


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """A fake upstream (its key in ``$FAKE_UPSTREAM_KEY``); keys ``sk-alice`` and
    ``sk-carol`` in ``$ALICE_KEY`` and ``$CAROL_KEY``."""
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "upstream-secret")
    monkeypatch.setenv("ALICE_KEY", "sk-alice")
    monkeypatch.setenv("CAROL_KEY", "sk-carol")
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "proctor.db")
    yield store
    await store.close()
