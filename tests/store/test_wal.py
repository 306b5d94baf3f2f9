"""The SQLite store checkpoints its WAL from a thread, off the commit path, and keeps it
bounded under continuous writes; nothing committed is lost if the process dies."""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from proctor.store import (
    RunJournal,
    RunRecord,
    RunStarted,
    SQLiteStore,
    ToolFinished,
    verify_run,
)
from proctor.store._wal import WalSettings

# The thread never wakes by itself: the tests run its rounds.
MANUAL = WalSettings(interval_s=3600, restart_pages=64)


def wal(path: Path) -> int:
    """The size of the store's ``-wal`` file (0 if there is none)."""
    wal_file = path.with_name(path.name + "-wal")
    return wal_file.stat().st_size if wal_file.exists() else 0


async def new_run(store: SQLiteStore, run_id: str = "run-1") -> RunJournal:
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="r" * 16)
    row, _ = journal.build(
        RunStarted(
            workflow="w", model="m", contract_name="c", contract_version="1", contract_hash="h"
        )
    )
    run = RunRecord(
        run_id=run_id,
        workflow="w",
        model="m",
        contract_name="c",
        contract_hash="h",
        trace_id="t" * 32,
        started_at=row.ts,
        last_seq=row.seq,
        head_hash=row.hash,
    )
    await store.create_run(run, row)
    return journal


def result(n: int) -> ToolFinished:
    """An event of about 2 KB: each commit of one adds a page or two to the log."""
    return ToolFinished(
        call_id=f"c{n}", tool="t", ok=True, latency_ms=1.0, result={"text": f"{n} " + "x" * 2000}
    )


def test_a_store_that_only_reads_starts_no_thread(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "s.db")  # create it
    store = SQLiteStore(tmp_path / "s.db")
    assert store.checkpointer is None


async def test_the_first_write_moves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", checkpoints=MANUAL)
    try:
        await new_run(store)
        assert store.checkpointer is not None
        assert store.checkpointer.is_alive()
        # The commit's own checkpoint only as a backstop, far beyond the thread's bound.
        (pages,) = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert pages == MANUAL.backstop_pages == 4 * MANUAL.restart_pages
    finally:
        await store.close()
    assert store.checkpointer is None


async def test_without_settings_sqlite_checkpoints_in_commits(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", checkpoints=None)
    try:
        await new_run(store)
        assert store.checkpointer is None
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    finally:
        await store.close()


async def test_an_idle_round_empties_the_log(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path, checkpoints=MANUAL)
    try:
        journal = await new_run(store)
        for n in range(10):
            await journal.append([result(n)])
        assert wal(path) > 0
        checkpointer = store.checkpointer
        assert checkpointer is not None
        checkpointer._round(idle=True)
        assert wal(path) == 0
        assert checkpointer.rounds["truncate"] == 1
        checkpointer._round(idle=True)  # nothing written since: nothing to do
        assert checkpointer.rounds["truncate"] == 1
    finally:
        await store.close()


async def test_a_long_log_starts_over_under_continuous_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path, checkpoints=MANUAL)
    try:
        journal = await new_run(store)
        for n in range(100):  # over 64 pages of log
            await journal.append([result(n)])
        checkpointer = store.checkpointer
        assert checkpointer is not None
        checkpointer._round(idle=False)
        assert checkpointer.rounds == {"passive": 1, "restart": 1, "truncate": 0}
        before = wal(path)
        await journal.append([result(100)])  # this commit writes from the log's start ...
        # ... and the file is trimmed to the bound (journal_size_limit)
        assert wal(path) <= min(before, 64 * 4096 + 64 * 24 + 32)
        checkpointer._round(idle=False)  # a short log: a passive round only
        assert checkpointer.rounds == {"passive": 2, "restart": 1, "truncate": 0}
    finally:
        await store.close()


async def test_the_log_stays_bounded_through_a_long_write_loop(tmp_path: Path) -> None:
    # ~25 times the bound written, a commit at a time with a pause of a step's work
    # between, the log starts over again and again (RESTART) and the file is trimmed back.
    # Should the thread be starved of CPU, the commit's own backstop holds the bound.
    settings = WalSettings(interval_s=0.005, restart_pages=64)
    path = tmp_path / "s.db"
    store = SQLiteStore(path, checkpoints=settings)
    largest = 0
    try:
        journal = await new_run(store)
        for n in range(600):
            await journal.append([result(n)])
            largest = max(largest, wal(path))
            time.sleep(0.0002)  # the rest of a step (and a moment for the thread)
        rows = await store.events("run-1")
        report = await verify_run(store, "run-1")
    finally:
        await store.close()
    assert len(rows) == 601
    assert report.ok
    assert largest <= 2 * settings.backstop_pages * (4096 + 24), largest
    assert wal(path) == 0  # close emptied it


async def test_nothing_committed_is_lost_if_the_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path, checkpoints=MANUAL)
    try:
        journal = await new_run(store)
        for n in range(30):
            await journal.append([result(n)])
        assert wal(path) > 0  # committed events still in the log, not yet in the file
        # What a killed process leaves: the files as they are now, never closed.
        crashed = tmp_path / "crashed"
        crashed.mkdir()
        for suffix in ("", "-wal"):
            shutil.copy(path.with_name(path.name + suffix), crashed / ("s.db" + suffix))
    finally:
        await store.close()
    with closing(sqlite3.connect(crashed / "s.db")) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (31,)
    reopened = SQLiteStore(crashed / "s.db")
    try:
        assert len(await reopened.events("run-1")) == 31
        assert (await verify_run(reopened, "run-1")).ok
    finally:
        await reopened.close()
