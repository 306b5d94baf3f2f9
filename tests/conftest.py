"""Fixtures shared by every test: an isolated Proctor home and a store per backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proctor.store import Store
from support.stores import backend_store, drop_schema, new_schema_url

pytest_plugins = ["support.endpoint_fixtures"]

POSTGRES_URL_ENV = "PROCTOR_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def proctor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``PROCTOR_HOME`` (and the cache folder) at fresh directories, so no test
    touches ``./.proctor`` or ``~/.cache`` (nor exports spans to a developer's
    OpenTelemetry endpoint)."""
    home = tmp_path / "proctor-home"
    monkeypatch.setenv("PROCTOR_HOME", str(home))
    monkeypatch.setenv("PROCTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PROCTOR_DB", raising=False)
    for name in ("PROCTOR_DB_POOL_MAX", "PROCTOR_DB_POOL_TIMEOUT", "PROCTOR_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    # A developer's OpenTelemetry settings must not turn on live export in tests.
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the PostgreSQL server tests use (``$PROCTOR_TEST_POSTGRES_URL``).

    Unreachable: the PostgreSQL tests are skipped here, and fail on CI (``CI=true``),
    where a server must run."""
    import psycopg

    from proctor.store._postgres_pool import parse_postgres_url

    url = os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        message = (
            f"PostgreSQL is not reachable at {parse_postgres_url(url).where} ({reason}); "
            f"CI runs these. Start a server or point {POSTGRES_URL_ENV} at one"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A store URL on a schema of its own (``?schema=t_...``), dropped after the test."""
    schema, url = new_schema_url(postgres_server)
    yield url
    await drop_schema(postgres_server, schema)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """The store a CLI test's processes share, per backend: ``None`` (SQLite, the default
    file under ``PROCTOR_HOME``) or a PostgreSQL URL on a schema of its own."""
    if request.param == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    schema, url = new_schema_url(server)
    yield url
    await drop_schema(server, schema)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each backend (PostgreSQL: in a schema of its own).

    In ``tests/store``, which holds the store contract, ``MemoryStore`` too."""
    async with backend_store(request.param, request, tmp_path) as opened:
        yield opened


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params apply: a mark overrides them
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames and metafunc.definition.path.parent.name == "store":
        every = pytest.mark.parametrize("store", ["sqlite", "postgres", "memory"], indirect=True)
        metafunc.definition.add_marker(every)


# Files that take long on their own (a server to start, many processes to kill) are
# collected first, so that under `-n 2 --dist loadfile` one worker starts them while the
# other works through the rest, instead of the suite ending on one of them alone.
_LONG_FILES = (
    "telemetry/test_phoenix_e2e.py",
    "server/test_api_fuzz.py",
    "cli/test_cli_crash_resume.py",
    "runtime/test_crash_harness.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        for index, suffix in enumerate(_LONG_FILES):
            if path.endswith(suffix):
                return index
        return len(_LONG_FILES)

    items.sort(key=rank)
