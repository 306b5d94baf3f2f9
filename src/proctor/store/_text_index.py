"""The run search's index on SQLite: FTS5 trigrams, kept off the commit path (migration 23).

A search word matches a run when it begins the run id or appears anywhere in the input,
answer or tools text (``run_filter_sql``): ``LIKE '%word%'``, which no B-tree index
serves, so at a million runs a rare word read every run of the tenant (1.1 s). FTS5's
``trigram`` tokenizer serves ``LIKE`` with three characters or more, but indexing a run
costs ~300 µs committed on its own, more than a governed step; in batches of 50, ~60 µs.
So the index is kept in step by a thread, not by the commit:

- triggers queue a run (``runs_text_queue``, its id) when its row is written with new
  text, or deleted: one more page in the commit that changed it (~80 µs here);
- ``TextIndexer`` (a thread with its own connection) folds the queue into ``runs_text``
  16 runs a statement, in the store's quiet moments;
- a search asks the index for the runs holding every trigram of its longest word, adds
  every queued run (whose text the index may not have yet), and, if there are at most
  ``CANDIDATES`` of them, lets ``run_filter_sql`` read just those, checking each word
  exactly as before. More candidates mean a common word, which the ordinary walk of the
  runs finds quickly. Results are the same either way: the index only narrows.

``runs_text`` is ``detail=none`` (no positions: less than half the size of ``full``, two
thirds of its cost; the search checks each run anyway) and
keeps its own copy of the text, so an entry can be deleted without the text it was made
from. Its rowids are ``runs_text_docs``' (``VACUUM`` may renumber the rowids of ``runs``).

FTS5 keeps a deleted entry's postings in its segments until they are merged; after a
purge (``SQLiteStore._after_purge`` counts one in ``runs_text_merge``), the indexer merges
the whole index, a step at a time, once the purged runs are re-indexed, so the words of a
purged text do not stay in the file. Where the SQLite library has no FTS5 trigram
tokenizer (before 3.34), migration 23 makes nothing and the search reads the runs.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

from proctor.store._wal import Commits, StoreThread

logger = logging.getLogger("proctor.store")

CANDIDATES = 2_000
"""At most this many runs from the index (and the queue) are read by id; more, and the
search walks the runs in the list's order instead."""
BATCH = 1_000
"""Runs indexed in one transaction when catching up by hand (``catch_up``)."""
SMALL_BATCH = 16
"""Runs the thread indexes in one transaction (about 1 ms of the write lock)."""
BACKLOG = 256
"""Queued runs past which the thread indexes while the store keeps writing."""
MERGE_PAGES = 50
"""Pages one merge step writes (in a transaction of its own): at a million runs, 200
pages took 32 ms a step (7.6 s for the whole index), so 50 hold the write lock ~8 ms."""

TABLES = ("runs_text", "runs_text_docs", "runs_text_queue", "runs_text_merge")
SHADOW_TABLES = tuple(
    f"runs_text_{part}" for part in ("data", "idx", "content", "docsize", "config")
)
"""FTS5's own tables behind ``runs_text``."""
TRIGGERS = ("runs_text_new", "runs_text_changed", "runs_text_gone")

_TEXT = ("input_text", "answer_text", "tools_used")
# Not INSERT OR IGNORE: inside a trigger, the conflict policy of the statement that fired
# it wins (an upsert of the run's row: ABORT), so a run queued already would fail it.
_QUEUE = (
    "INSERT INTO runs_text_queue (run_id) SELECT {run}.run_id "
    "WHERE NOT EXISTS (SELECT 1 FROM runs_text_queue WHERE run_id = {run}.run_id);"
)
MIGRATION = f"""
    CREATE VIRTUAL TABLE runs_text USING fts5(text, tokenize = 'trigram', detail = none);
    CREATE TABLE runs_text_docs (doc INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE);
    CREATE TABLE runs_text_queue (run_id TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE runs_text_merge (id INTEGER PRIMARY KEY CHECK (id = 1), due INTEGER NOT NULL);
    INSERT INTO runs_text_merge (id, due) VALUES (1, 0);
    INSERT INTO runs_text_queue (run_id) SELECT run_id FROM runs;
    CREATE TRIGGER runs_text_new AFTER INSERT ON runs BEGIN
        {_QUEUE.format(run="new")}
    END;
    CREATE TRIGGER runs_text_changed AFTER UPDATE OF {", ".join(_TEXT)} ON runs
    WHEN {" OR ".join(f"old.{c} IS NOT new.{c}" for c in _TEXT)} BEGIN
        {_QUEUE.format(run="new")}
    END;
    CREATE TRIGGER runs_text_gone AFTER DELETE ON runs BEGIN
        {_QUEUE.format(run="old")}
    END;
"""
"""Migration 23 on SQLite (PostgreSQL has ``pg_trgm``, migration 22)."""

# A queued run taken off the queue is indexed anew: its old entry goes; a run that still
# exists gets its doc number (kept) and an entry of its id, then one field a line (no
# search word holds a line break), its id for its prefix.
_FOLD = """
    CREATE TEMP TRIGGER IF NOT EXISTS runs_text_fold BEFORE DELETE ON main.runs_text_queue
    BEGIN
        DELETE FROM runs_text
            WHERE rowid = (SELECT doc FROM runs_text_docs WHERE run_id = old.run_id);
        DELETE FROM runs_text_docs WHERE run_id = old.run_id
            AND NOT EXISTS (SELECT 1 FROM runs WHERE run_id = old.run_id);
        INSERT INTO runs_text_docs (run_id) SELECT old.run_id
            WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = old.run_id)
            AND NOT EXISTS (SELECT 1 FROM runs_text_docs WHERE run_id = old.run_id);
        INSERT INTO runs_text (rowid, text)
            SELECT d.doc, r.run_id || char(10) || r.input_text || char(10) || r.answer_text
                || char(10) || r.tools_used
            FROM runs r JOIN runs_text_docs d ON d.run_id = r.run_id
            WHERE r.run_id = old.run_id;
    END
"""
_TAKE = "DELETE FROM runs_text_queue WHERE run_id IN (SELECT run_id FROM runs_text_queue LIMIT ?)"
# Two queries, not a UNION: SQLite fills a UNION's temporary table from both sides before
# its LIMIT applies (a common word's 900,000 entries: 400 ms, against 1 ms for 2,001).
_INDEXED = (
    "SELECT d.run_id FROM runs_text t JOIN runs_text_docs d ON d.doc = t.rowid "
    "WHERE t.runs_text MATCH ? LIMIT ?"
)
_QUEUED_IDS = "SELECT run_id FROM runs_text_queue LIMIT ?"
_BACKLOG = "SELECT COUNT(*) FROM (SELECT 1 FROM runs_text_queue LIMIT ?)"


def trigram_available(db: sqlite3.Connection) -> bool:
    """Whether this SQLite library can make an FTS5 table with the trigram tokenizer."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp.proctor_probe USING fts5(x, tokenize = 'trigram')")
    except sqlite3.Error:
        return False
    db.execute("DROP TABLE temp.proctor_probe")
    return True


def has_index(db: sqlite3.Connection) -> bool:
    """Whether the store at ``db`` has the search index (migration 23 made it)."""
    found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs_text'").fetchone()
    return found is not None


def index_word(terms: tuple[str, ...]) -> str | None:
    """The search word the index narrows by: the longest (three characters at least, a
    trigram's), else ``None``."""
    best = max(terms, key=len, default="")
    return best if len(best) >= 3 else None


def trigram_query(word: str) -> str:
    """An FTS5 query for the entries holding every trigram of ``word``: a superset of
    those holding ``word`` (``detail=none`` keeps no positions), checked by the caller.
    (Not FTS5's ``LIKE``: with ``_`` or ``%`` in the word it checks every entry's text.)"""
    grams = dict.fromkeys(word[i : i + 3] for i in range(len(word) - 2))
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def candidates(db: sqlite3.Connection, word: str, cap: int = CANDIDATES) -> list[str] | None:
    """The runs that may hold ``word`` (the index's, and every queued run), or ``None``
    if there are more than ``cap``. A superset: the caller checks each run exactly."""
    found = {row[0] for row in db.execute(_INDEXED, (trigram_query(word), cap + 1))}
    if len(found) <= cap:
        found.update(row[0] for row in db.execute(_QUEUED_IDS, (cap + 1,)))
    return None if len(found) > cap else sorted(found)


def index_batch(db: sqlite3.Connection, limit: int = BATCH) -> int:
    """Fold up to ``limit`` queued runs into the index, in one statement on ``db`` (which
    holds no transaction); how many it took from the queue.

    One statement, not one per run: Python's ``sqlite3`` lets go of the GIL inside a
    statement and must take it back after, which under a busy main thread waits up to
    the switch interval (5 ms) each time, all while this thread holds the write lock (a
    batch of 16 took 5.5 ms). The work is the temporary trigger ``_FOLD`` (this
    connection's own), run for each queued row the statement deletes."""
    db.execute(_FOLD)
    return int(db.execute(_TAKE, (limit,)).rowcount)


def merge_due(db: sqlite3.Connection) -> int:
    """How many purges the index has not been merged since (0: none)."""
    row = db.execute("SELECT due FROM runs_text_merge").fetchone()
    return int(row[0]) if row else 0


def merge_step(db: sqlite3.Connection, pages: int = MERGE_PAGES) -> bool:
    """One step of merging the whole index into one segment (which drops deleted
    entries' postings); whether there is more to do. FTS5's documented test: a merge
    that changed fewer than two rows had nothing left to do."""
    before = db.total_changes
    db.execute("INSERT INTO runs_text (runs_text, rank) VALUES ('merge', ?)", (-pages,))
    return db.total_changes - before >= 2


def merge_after_purges(
    db: sqlite3.Connection,
    due: int,
    stopped: threading.Event,
    *,
    pause_s: float = 0.0,
    writing: contextlib.AbstractContextManager[object] | None = None,
) -> None:
    """Merge the index step by step (each inside ``writing``, ``pause_s`` between steps,
    for the store's writer), then mark the ``due`` purges it covers as merged."""
    turn = writing or contextlib.nullcontext()
    while not stopped.is_set():
        with turn:
            more = merge_step(db)
        if not more:
            break
        stopped.wait(pause_s)
    if not stopped.is_set():
        with turn:
            db.execute("UPDATE runs_text_merge SET due = MAX(due - ?, 0)", (due,))


def catch_up(db: sqlite3.Connection, stopped: threading.Event | None = None) -> int:
    """Index every queued run and merge after any purge, now (for migrations, seeding
    and tests); how many runs it indexed."""
    stopped = stopped or threading.Event()
    total = 0
    while (done := index_batch(db, BATCH)) > 0:
        total += done
    due = merge_due(db)
    if due:
        merge_after_purges(db, due, stopped)
    return total


class TextIndexer(StoreThread):
    """The thread that keeps one store's search index in step (see the module's
    docstring). It indexes in the store's quiet moments (no commit for a tick), a small
    batch at a time so that a write arriving meanwhile waits little; under continuous
    writes only once the queue has grown to ``BACKLOG``, one small batch a tick."""

    def __init__(
        self,
        path: Path,
        commits: Commits,
        *,
        tick_s: float = 0.05,
        writing: contextlib.AbstractContextManager[object] | None = None,
    ) -> None:
        """``writing``: a lock the store's own writes hold, taken around each batch."""
        super().__init__("proctor-search-index", path, busy_ms=1000)
        self.tick_s = tick_s
        self._commits = commits
        self._writing = writing or contextlib.nullcontext()
        self._db.execute("PRAGMA secure_delete=ON")  # as the store's: deleted text overwritten
        self.indexed = 0
        """Runs indexed so far (for tests and benchmarks)."""

    def _work(self) -> None:
        seen = self._commits.count
        while not self._stopped.wait(self.tick_s):
            try:
                self._tick(quiet=self._commits.count == seen)
            except sqlite3.Error as exc:  # busy, or locked: the next tick catches up
                logger.debug("search index round skipped: %s", exc)
            seen = self._commits.count

    def _tick(self, *, quiet: bool) -> None:
        if not quiet:
            backlog = self._db.execute(_BACKLOG, (BACKLOG,)).fetchone()[0]
            if backlog >= BACKLOG:
                self._batch()
            return
        # Quiet: batch after batch while no write comes, then merge after purges.
        done = SMALL_BATCH
        while done == SMALL_BATCH and not self._stopped.is_set():
            before = self._commits.count
            done = self._batch()
            if self._commits.count != before:
                return
        if done < SMALL_BATCH and (due := merge_due(self._db)):
            merge_after_purges(self._db, due, self._stopped, pause_s=0.01, writing=self._writing)

    def _batch(self) -> int:
        with self._writing:
            done = index_batch(self._db, SMALL_BATCH)
        self.indexed += done
        return done
