"""Which backend a store location names, and its schema version (``proctor db``)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from proctor.errors import UsageError
from proctor.store._migrations import SCHEMA_VERSION

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, kw_only=True)
class SchemaStatus:
    """A store's schema version against the one this Proctor knows."""

    backend: Backend
    location: str
    """The file's path, or the URL without its password."""
    version: int
    """0: no store there yet."""

    @property
    def current(self) -> bool:
        return self.version == SCHEMA_VERSION


def resolve_location(location: str | Path | None) -> tuple[Backend, str]:
    """The backend and target ``open_store(location)`` opens: ``location``, else
    ``$PROCTOR_DB``, else ``<home>/proctor.db``."""
    if location is None:
        from proctor.store import default_home

        location = os.environ.get("PROCTOR_DB") or default_home() / "proctor.db"
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql", text
    if text.startswith("sqlite:///"):
        return "sqlite", text.removeprefix("sqlite:///")
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise UsageError(
            f"unsupported store URL scheme {scheme!r}: use a file path, sqlite:///PATH "
            "or postgresql://USER@HOST/DATABASE"
        )
    return "sqlite", text


async def schema_status(location: str | Path | None = None) -> SchemaStatus:
    """The schema version of the store at ``location``, leaving it as it is."""
    backend, target = resolve_location(location)
    if backend == "postgresql":
        from proctor.store._postgres import PostgresStore

        store = PostgresStore(target, migrate=False)
        try:
            version = await store.schema_version()
        finally:
            await store.close()
        return SchemaStatus(backend=backend, location=store.url, version=version)
    return SchemaStatus(backend=backend, location=target, version=_sqlite_version(Path(target)))


async def upgrade_schema(location: str | Path | None = None) -> tuple[SchemaStatus, int]:
    """Apply the pending migrations to the store at ``location`` (creating it if new);
    returns its status before, and the version it is at now."""
    before = await schema_status(location)
    backend, target = resolve_location(location)
    if backend == "postgresql":
        from proctor.store._postgres import PostgresStore

        store = PostgresStore(target, migrate=False)
        try:
            _, after = await store.upgrade()
        finally:
            await store.close()
        return before, after
    from proctor.store._sqlite import SQLiteStore

    await SQLiteStore(target).close()  # opening migrates it
    return before, _sqlite_version(Path(target))


def _sqlite_version(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        # Read-only: a status must not create, migrate or switch the file to WAL.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        from proctor.errors import StoreError

        raise StoreError(
            f"cannot read the store at {path}: {exc}. Check it is a Proctor store (a SQLite file)"
        ) from exc
