"""WAL checkpoints off the commit path, for the SQLite store.

SQLite copies its write-ahead log back into the database file (a checkpoint) inside
whichever commit makes the log pass 1,000 pages: that commit, and the step waiting on
it, takes milliseconds (a governed run's p99 per step was 3x its p50). ``Checkpointer``
does it from a thread of its own, on a connection of its own:

- every ``interval_s``, a passive checkpoint: it copies what it can and never blocks the
  writer (readers and writers carry on);
- when the store has been idle for a round, a ``TRUNCATE`` checkpoint: the log is copied
  in full and its file emptied;
- when the log has grown past ``restart_pages`` under continuous writes (a passive
  checkpoint never lets the writer start the log over while it keeps appending), a
  ``RESTART`` checkpoint: it waits for the writer's transaction, copies the few frames
  the last passive one left, and the next commit starts the log from its beginning. It
  gives up after ``BUSY_MS`` if a reader holds an old snapshot, rather than hold the
  writer back, and tries again next round.

The writer's own automatic checkpoint stays only as a backstop, at ``backstop_pages``
(four times ``restart_pages``), should this thread be starved of CPU. ``PRAGMA
journal_size_limit`` trims the file back to ``restart_pages`` whenever the log starts
over, so the ``-wal`` file stays within a few bounds. (A reader of another process that
keeps one snapshot open for long holds every checkpoint back, as it would SQLite's own.)
Nothing is lost on a crash: a checkpoint only copies committed frames, and the log keeps
them until then.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("proctor.store")

BUSY_MS = 20
"""How long a RESTART or TRUNCATE waits for the writer or a reader before it gives up."""


@dataclass(frozen=True, slots=True)
class WalSettings:
    """When the store's log is checkpointed (``SQLiteStore(checkpoints=...)``)."""

    interval_s: float = 0.1
    """Seconds between passive checkpoints."""
    restart_pages: int = 4096
    """Log frames (pages; 16 MiB at 4 KiB) after which the log is started over."""

    @property
    def backstop_pages(self) -> int:
        """The log's length at which a commit checkpoints it itself (SQLite's own)."""
        return 4 * self.restart_pages


DEFAULT_CHECKPOINTS = WalSettings()


class Commits:
    """What the writer tells the checkpointer: how many commits it has made so far."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class StoreThread(threading.Thread):
    """A daemon thread of one store's own, on a connection of its own, until ``stop``:
    the WAL's ``Checkpointer`` and the search index's ``TextIndexer``."""

    def __init__(self, name: str, path: Path, *, busy_ms: int) -> None:
        super().__init__(name=f"{name}:{path.name}", daemon=True)
        self._stopped = threading.Event()
        # Opened here, in the caller's thread, so a store whose thread cannot open goes
        # on without it (the caller sees the error first).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={busy_ms}")

    def run(self) -> None:
        try:
            self._work()
        finally:
            self._db.close()

    def _work(self) -> None:
        """The thread's loop, until ``self._stopped`` is set."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop, and wait until the thread has closed its connection."""
        self._stopped.set()
        if self.is_alive():
            self.join()
        else:
            self._db.close()

    def stop_soon(self) -> None:
        """Tell the thread to stop (it closes its connection), without waiting: for a store
        collected unclosed."""
        self._stopped.set()


class Checkpointer(StoreThread):
    """The thread that checkpoints one store's log (see the module's docstring)."""

    def __init__(self, path: Path, settings: WalSettings, commits: Commits) -> None:
        super().__init__("proctor-checkpoint", path, busy_ms=BUSY_MS)
        self.settings = settings
        self._commits = commits
        self.rounds = {"passive": 0, "restart": 0, "truncate": 0}
        """How many checkpoints of each kind ran (for tests and benchmarks)."""

    def _work(self) -> None:
        seen = self._commits.count
        wait = self.settings.interval_s
        while not self._stopped.wait(wait):
            count = self._commits.count
            try:
                busy = self._round(idle=count == seen)
            except sqlite3.Error as exc:  # busy or locked: the next round catches up
                logger.debug("WAL checkpoint skipped: %s", exc)
                busy = True
            seen = count
            # An idle store with an empty log is looked at once a second (the writer's
            # backstop holds the bound if writes resume in between).
            wait = self.settings.interval_s if busy else max(self.settings.interval_s, 1.0)

    def _round(self, *, idle: bool) -> bool:
        """One round; whether there was anything to do."""
        _, frames, _ = self._checkpoint("PASSIVE")
        if idle:
            if frames > 0:
                self._checkpoint("TRUNCATE")
            return frames > 0
        if frames >= self.settings.restart_pages:
            self._checkpoint("RESTART")
        return True

    def _checkpoint(self, mode: str) -> tuple[int, int, int]:
        busy, frames, copied = self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self.rounds[mode.lower()] += 1
        return int(busy), int(frames), int(copied)
