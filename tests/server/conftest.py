"""Fixtures of the HTTP API tests: a SQLite store, a key of every role in two tenants
(named ``<tenant>-<role>``), and an ``Api`` client over the app (server.api_harness)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from proctor.server import ROLES, create_api_key
from proctor.server._serve import build_app
from proctor.store import ApiKeyRecord, SQLiteStore
from server.api_harness import BASE_URL, TENANTS, Api


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "server.db")
    yield store
    asyncio.run(store.close())


@pytest.fixture
def seeded_keys(db: SQLiteStore) -> dict[tuple[str, str], tuple[ApiKeyRecord, str]]:
    """A key of every role in each tenant, named ``<tenant>-<role>``."""

    async def mint() -> dict[tuple[str, str], tuple[ApiKeyRecord, str]]:
        return {
            (tenant, role): await create_api_key(
                db, role=role, tenant=tenant, name=f"{tenant}-{role}"
            )
            for tenant in TENANTS
            for role in ROLES
        }

    return asyncio.run(mint())


@pytest.fixture
def api(
    db: SQLiteStore,
    seeded_keys: dict[tuple[str, str], tuple[ApiKeyRecord, str]],
    proctor_home: Path,
) -> Iterator[Api]:
    app = build_app(db, home=proctor_home, allowed_hosts=[urlsplit(BASE_URL).hostname or ""])
    with TestClient(app, base_url=BASE_URL) as client:
        yield Api(
            client=client,
            store=db,
            keys={where: token for where, (_, token) in seeded_keys.items()},
            records={where: record for where, (record, _) in seeded_keys.items()},
        )
