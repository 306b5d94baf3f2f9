"""Which backend a store location names, and its schema version (``proctor db``)."""

from __future__ import annotations

import os
import re
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
    ``$PROCTOR_DB``, else ``<home>/proctor.db``.

    ``sqlite:///PATH`` names the absolute path ``/PATH``, as a ``file:///`` URL does
    (SQLAlchemy's ``sqlite:////PATH`` reads the same); a relative path is given as a
    plain path. Anything shaped like a URL that is not one of these raises ``UsageError``:
    a typo must not become a new, empty store.
    """
    if location is None:
        from proctor.store import default_home

        location = os.environ.get("PROCTOR_DB") or default_home() / "proctor.db"
    text = str(location)
    if not text.strip():
        raise UsageError(_bad_location(text, "is empty"))
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() in ("postgresql", "postgres"):
            return "postgresql", text
        if scheme.lower() == "sqlite":
            path = rest.lstrip("/")
            if not rest.startswith("/") or not path:
                raise UsageError(_bad_location(text, "is not sqlite:///ABSOLUTE/PATH"))
            return "sqlite", "/" + path
        raise UsageError(_bad_location(text, f"has an unsupported scheme {scheme!r}"))
    if _URL_LIKE.match(text):
        raise UsageError(_bad_location(text, "looks like a URL but has no '://'"))
    return "sqlite", text


# A known scheme followed by ':' or '//' (postgresql//host, sqlite:x.db), or any scheme of
# two letters or more followed by ':/' (http:/x): a URL mistyped, not a file's path. A
# Windows drive (C:/x) has a one-letter scheme.
_URL_LIKE = re.compile(r"(?i)(postgresql|postgres|sqlite)(:|//)|[a-z][a-z0-9+.-]+:/")


def _bad_location(text: str, problem: str) -> str:
    return (
        f"the store location {text!r} {problem}. Fix: give a file path (runs.db), "
        "sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST/DATABASE, with --db or PROCTOR_DB"
    )


def check_store_exists(path: str | Path) -> None:
    """Raise ``StoreError`` unless a SQLite store file exists at ``path``: what only reads a
    store must not create an empty one where a path was mistyped."""
    found = Path(path).absolute()
    if found.is_file():
        return
    from proctor.errors import StoreError

    if found.is_dir():
        raise StoreError(
            f"no store at {found}: it is a folder. Fix: name the store's file, "
            f"e.g. --db {found / 'proctor.db'}"
        )
    problem = "the file does not exist" + ("" if found.parent.is_dir() else ", nor does its folder")
    raise StoreError(
        f"no store at {found} ({problem}). Fix: name an existing store with --db, "
        "PROCTOR_DB or PROCTOR_HOME; or create this one with proctor run, proctor demo or "
        "proctor db upgrade"
    )


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
