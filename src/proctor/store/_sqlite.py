"""The embedded default store: one SQLite file in WAL mode.

Calls run inline on the event loop: an append is ~12 µs, far less than a hop to a
worker thread would cost. The statements are ``SQLStore``'s; this module holds the
connection, its migrations and the dialect hooks.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from proctor.errors import StoreError
from proctor.store._files import private_file
from proctor.store._migrations import SCHEMA_VERSION, SQLITE_MIGRATIONS
from proctor.store._records import RunFilter
from proctor.store._rows import run_filter_sql
from proctor.store._run_query import search_terms
from proctor.store._sql_base import Batch, Dialect, Params, Row, Tx
from proctor.store._sql_store import SQLStore
from proctor.store._text_index import (
    MIGRATION as TEXT_INDEX_MIGRATION,
)
from proctor.store._text_index import (
    TextIndexer,
    candidates,
    catch_up,
    has_index,
    index_word,
    trigram_available,
)
from proctor.store._wal import BUSY_MS, DEFAULT_CHECKPOINTS, Checkpointer, Commits, WalSettings

logger = logging.getLogger("proctor.store")

SQLITE = Dialect(
    byte_length="LENGTH(CAST({} AS BLOB))",
    no_limit=-1,
    lock_rows="",  # BEGIN IMMEDIATE holds the file's one write lock already
    skip_locked="",
    queue_lock=None,
    key_lock=None,
    list_param=False,
)


class SQLiteStore(SQLStore):
    """``Store`` on one SQLite file (WAL, synchronous=NORMAL: durable across process death)."""

    dialect = SQLITE
    rollups = True  # migration 19's triggers keep the outcome report's daily sums

    def __init__(
        self,
        path: str | Path,
        *,
        checkpoints: WalSettings | None = DEFAULT_CHECKPOINTS,
        search_index: bool = True,
    ) -> None:
        """``checkpoints``: when a thread of the store's own copies the WAL into the file
        (``store._wal``; it starts with the first write); ``None`` leaves it to SQLite,
        inside commits. ``search_index``: whether a thread of the store's own keeps the
        run search's index in step (``store._text_index``; from the first write too);
        without it changed runs wait in a queue, which the search reads whole."""
        self.path = Path(path)
        self._checkpoints = checkpoints
        self._checkpointer: Checkpointer | None = None
        self._indexer: TextIndexer | None = None
        self._commits = Commits()
        self._has_search_index = False
        self._index_in_background = False
        # Held by this store's writes and by its index thread's: in-process they take turns
        # here, where a waiter wakes at once, rather than in SQLite's busy handler, which
        # sleeps 1, 2, 5, 10 ms... between tries.
        self._writing = threading.RLock()
        try:
            private_file(self.path)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except (sqlite3.Error, OSError) as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            # What is deleted (a purge's payloads, a destroyed run key) is overwritten in
            # the file, not left in free pages.
            self._db.execute("PRAGMA secure_delete=ON")
            self._migrate()
            self._has_search_index = has_index(self._db)
            self._index_in_background = search_index and self._has_search_index
        except BaseException as exc:
            self._db.close()  # a store that failed to open must not leak its connection
            if isinstance(exc, sqlite3.Error):
                raise self._cannot_open(exc) from exc
            raise

    def _cannot_open(self, exc: Exception) -> StoreError:
        return StoreError(
            f"cannot open the store at {self.path}: {exc}. "
            "Check the path is writable, or choose another with --db or PROCTOR_HOME."
        )

    def _enable_wal(self) -> None:
        # On a new file another process may be migrating, and switching to WAL then fails
        # with "locked" at once, without the busy timeout: wait for it here instead.
        deadline = time.monotonic() + 30
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self) -> None:
        # The version is read inside the write lock: processes opening a new store at
        # once must not both apply the same migration.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {self.path} has schema version {version}, newer than this "
                    f"Proctor knows ({SCHEMA_VERSION}). Upgrade Proctor to open it."
                )
            for number in range(version, SCHEMA_VERSION):
                script = SQLITE_MIGRATIONS[number]
                if script is TEXT_INDEX_MIGRATION and not trigram_available(self._db):
                    logger.warning(
                        "this SQLite library (%s) has no FTS5 trigram tokenizer: the run "
                        "search reads every run of a tenant (SQLite 3.34 or later has it)",
                        sqlite3.sqlite_version,
                    )
                    script = ""
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def schema_version_now(self) -> int:
        [(version,)] = await self._fetch("PRAGMA user_version")
        return int(version)

    async def _after_purge(self) -> None:
        # The search index keeps a deleted entry's words until merged: its thread merges
        # once it has indexed the purged text anew (store._text_index).
        if self._has_search_index:
            await self._execute("UPDATE runs_text_merge SET due = due + 1")
        # Copy the purge into the file and empty the WAL, which still holds the pages
        # as they were before (a run's data key among them). A reader holding an old
        # snapshot can keep frames alive: then the next checkpoint clears them.
        await self._execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def _run_filter(self, query: RunFilter) -> tuple[str, list[Any]]:
        # A rare word: only the runs the index has it in (and the queued) are read, each
        # checked by the filter's own LIKE; a common one (too many runs), as before.
        word = index_word(search_terms(query.search)) if self._has_search_index else None
        if word is not None:
            try:
                found = candidates(self._db, word)
            except sqlite3.Error as exc:
                # The index only narrows: a damaged one costs speed, not answers.
                logger.warning(
                    "the run search index at %s could not be read (%s): the search reads "
                    'the runs instead. Rebuild it with sqlite3 STORE "INSERT INTO '
                    "runs_text (runs_text) VALUES ('rebuild')\"",
                    self.path,
                    exc,
                )
                found = None
            if found is not None:
                if query.run_ids:
                    named = set(query.run_ids)
                    found = [run_id for run_id in found if run_id in named]
                # No candidate: an id no run has (the empty tuple means no filter).
                query = replace(query, run_ids=tuple(found) or ("",))
                return run_filter_sql(
                    query, self.dialect.ilike, id_like=self.dialect.id_like, ids_first=True
                )
        return await super()._run_filter(query)

    async def catch_up_search_index(self) -> int:
        """Index every run waiting for the search index now, and merge after purges,
        on the store's own connection (seeding, upgrades, tests); how many it indexed.
        The store's thread does this in the background anyway."""
        if not self._has_search_index:
            return 0
        try:
            with self._writing:
                return catch_up(self._db)
        except sqlite3.Error as exc:
            raise self._failed(exc, "run search index") from exc

    # The dialect hooks. Errors leave as StoreError, sqlite3's error as its cause.

    def _failed(self, exc: sqlite3.Error, area: str) -> StoreError:
        what = f"the {area} in the store" if area else "the store"
        return StoreError(
            f"{what} at {self.path} failed: {exc}. "
            "Check the file is writable and not locked by another program"
        )

    async def _fetch(self, sql: str, params: Params = (), *, area: str = "") -> list[Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc, area) from exc

    def _wrote(self) -> None:
        """Count a write for the store's threads, starting them with the first."""
        if self._checkpointer is None and self._checkpoints is not None:
            self._start_checkpoints(self._checkpoints)
        if self._indexer is None and self._index_in_background:
            self._start_indexer()
        self._commits.count += 1

    async def _execute(self, sql: str, params: Params = (), *, area: str = "") -> int:
        self._wrote()
        try:
            with self._writing:
                return self._db.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise self._failed(exc, area) from exc

    async def _write(self, batch: Batch, *, area: str = "") -> None:
        self._wrote()
        db = self._db
        try:
            with self._writing:
                db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, rows in batch:
                        db.executemany(sql, rows)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise self._failed(exc, area) from exc

    @asynccontextmanager
    async def _transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        # BEGIN IMMEDIATE takes the write lock before the first read: writers take turns.
        with self._writing:
            await self._execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _Transaction(self)
                await self._execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _violation(self, exc: StoreError, of: frozenset[str] | None = None) -> str | None:
        cause = exc.__cause__
        return str(cause) if isinstance(cause, sqlite3.IntegrityError) else None

    def checkpoint_in_background(self, interval_s: float | None = None) -> None:
        """Start checkpointing the WAL from a thread of its own now (``store._wal``), not
        inside commits, every ``interval_s`` (default: the store's settings), and keeping
        the search index in step (unless made with ``search_index=False``); a server calls
        it at start-up. Stores do it anyway from their first write unless made with
        ``checkpoints=None``. ``close`` stops both."""
        if self._checkpointer is None:
            settings = self._checkpoints or DEFAULT_CHECKPOINTS
            if interval_s is not None:
                settings = replace(settings, interval_s=interval_s)
            self._start_checkpoints(settings)
        if self._indexer is None and self._index_in_background:
            self._start_indexer()

    def _start_checkpoints(self, settings: WalSettings) -> None:
        try:
            checkpointer = Checkpointer(self.path, settings, self._commits)
        except sqlite3.Error as exc:  # SQLite's own checkpoints carry on
            logger.warning("the store's checkpoint thread could not open %s: %s", self.path, exc)
            self._checkpoints = None
            return
        # The commit's own checkpoint only as a backstop, far beyond the thread's bound
        # (should the thread be starved of CPU); the file is trimmed back to the bound
        # each time the log starts over.
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        self._db.execute(f"PRAGMA wal_autocheckpoint={settings.backstop_pages}")
        self._db.execute(f"PRAGMA journal_size_limit={settings.restart_pages * page_size}")
        self._checkpointer = checkpointer
        checkpointer.start()
        # A store dropped without ``close`` (a test's, a script's) must not leave the
        # thread behind; it holds no reference to the store.
        weakref.finalize(self, checkpointer.stop_soon)

    def _start_indexer(self) -> None:
        self._index_in_background = False
        try:
            indexer = TextIndexer(self.path, self._commits, writing=self._writing)
        except sqlite3.Error as exc:  # the search reads the queued runs meanwhile
            logger.warning("the store's search index thread could not open %s: %s", self.path, exc)
            return
        self._indexer = indexer
        indexer.start()
        weakref.finalize(self, indexer.stop_soon)

    @property
    def indexer(self) -> TextIndexer | None:
        """The thread keeping this store's search index in step, once started."""
        return self._indexer

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The thread checkpointing this store's WAL, once started."""
        return self._checkpointer

    async def close(self) -> None:
        self._checkpoints = None  # a closed store starts no thread again
        self._index_in_background = False
        if self._indexer is not None:
            self._indexer.stop()
            self._indexer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
            # Empty the log now if no other connection reads it (else SQLite's close does
            # what it can); never wait long for a reader of another process.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute(f"PRAGMA busy_timeout={BUSY_MS}")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self._db.close()


class _Transaction:
    """Statements on the store's one connection, inside the transaction it began."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._store._fetch(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self._store._execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        try:
            self._store._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise self._store._failed(exc, "") from exc


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
