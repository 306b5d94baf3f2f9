"""SQLite's run search index (``store._text_index``, migration 23): a search through it
finds exactly what reading every run finds (the index only narrows), runs are queued as
their text changes and folded in by the store's thread, and a purged text's words leave
the index's file."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from proctor.store import (
    MemoryStore,
    RunFilter,
    RunFinished,
    RunJournal,
    RunRecord,
    SQLiteStore,
    Store,
    Totals,
)
from proctor.store import _sqlite as sqlite_module
from proctor.store import _text_index as text_index
from support.store_runs import add_run


@pytest.fixture
async def indexed(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A SQLite store whose index is caught up by hand (no thread)."""
    store = SQLiteStore(tmp_path / "s.db", search_index=False)
    yield store
    await store.close()


async def ids(store: Store, search: str, **query: Any) -> list[str]:
    return [run.run_id for run in await store.list_runs(RunFilter(search=search, **query))]


def queued(store: SQLiteStore) -> int:
    with closing(sqlite3.connect(store.path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs_text_queue").fetchone()[0])


async def finish(store: Store, run: RunRecord, answer: str) -> RunRecord:
    journal = RunJournal.resume(store, await store.events(run.run_id))
    journal.seal([RunFinished(outcome="resolved", reason="done", totals=Totals())])
    done = dataclasses.replace(
        run,
        status="finished",
        outcome="resolved",
        finished_at=run.started_at + 1,
        answer_text=answer,
    )
    await journal.commit(run=done)
    return done


_LETTERS = "abcAB%_\\é É-.1"


def _text(rng: random.Random) -> str:
    return " ".join(
        "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 7)))
        for _ in range(rng.randint(0, 6))
    )


async def test_a_search_through_the_index_finds_what_reading_every_run_finds(
    indexed: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(23)
    memory = MemoryStore()
    texts: list[str] = []
    for n in range(80):
        input, answer, tools = _text(rng), _text(rng), _text(rng)
        texts += [input, answer, tools]
        run_id, tenant = f"run_{rng.choice('ab')}{n:03d}", rng.choice(("default", "acme"))
        for store in (indexed, memory):
            await add_run(
                store,
                run_id,
                at=float(n),
                tenant=tenant,
                input={"note": input},
                answer=answer,
                tools=tools,
            )
    words = [word for text in texts for word in text.split()]
    searches = [rng.choice(words) for _ in range(40)]  # every one some run has
    searches += [w[1:] for w in searches if len(w) > 3]  # ...and inside a word
    searches += [f"{rng.choice(words)} {rng.choice(words)}" for _ in range(10)]  # both
    searches += ["run_a0", "RUN_B01", "un_b0", "run_", "abcabc", "a%b", "é-", "\\a"]
    used: list[str] = []
    real = text_index.candidates

    def counted(db: sqlite3.Connection, word: str, cap: int = text_index.CANDIDATES) -> Any:
        found = real(db, word, cap)
        if found is not None:
            used.append(word)
        return found

    monkeypatch.setattr(sqlite_module, "candidates", counted)
    for state in ("queued", "indexed", "too many candidates"):
        if state == "indexed":
            assert await indexed.catch_up_search_index() == 80
            assert queued(indexed) == 0
        if state == "too many candidates":
            monkeypatch.setattr(text_index, "CANDIDATES", 3)
            monkeypatch.setattr(sqlite_module, "candidates", lambda db, w: real(db, w, 3))
        for search in searches:
            for query in ({}, {"tenant": "acme"}, {"sort": "started", "limit": 5}):
                expected = await ids(memory, search, **query)
                assert await ids(indexed, search, **query) == expected, (state, search, query)
                within = RunFilter(search=search, **query)
                counted_here = await indexed.run_totals(within, cap=10)
                assert counted_here == await memory.run_totals(within, cap=10), search
        if state == "indexed":  # the index did narrow most of them (not all too common)
            assert len(set(used)) > len(searches) // 2


async def test_a_run_is_queued_when_its_text_changes_and_found_by_its_new_text(
    indexed: SQLiteStore,
) -> None:
    run = await add_run(indexed, "run_1", at=1.0, input={"animal": "quokka"})
    other = await add_run(indexed, "run_2", at=2.0, input={"animal": "wombat"})
    assert queued(indexed) == 2
    await finish(indexed, other, "Fed the wombat.")  # changed again while queued
    assert queued(indexed) == 2
    assert await ids(indexed, "quokka") == ["run_1"]  # from the queue
    assert await indexed.catch_up_search_index() == 2
    assert await ids(indexed, "quokka") == ["run_1"]  # from the index
    await finish(indexed, run, "Fed the numbat.")
    assert queued(indexed) == 1
    assert await ids(indexed, "numbat") == ["run_1"]
    assert await indexed.catch_up_search_index() == 1
    assert await ids(indexed, "numbat") == ["run_1"]
    assert await ids(indexed, "quokka wombat") == []
    with closing(sqlite3.connect(indexed.path)) as db:  # replaced, not added to
        assert db.execute("SELECT COUNT(*) FROM runs_text").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM runs_text_docs").fetchone()[0] == 2


async def test_a_purged_texts_words_leave_the_index(indexed: SQLiteStore) -> None:
    # A trigram no other text shares a prefix with: FTS5 stores a term after the one
    # before it minus their common prefix, so its bytes are findable in the segments.
    secret = "🦘qz"
    run = await add_run(indexed, "run_1", at=1.0, input={"pin": f"x{secret}y"})
    await add_run(indexed, "run_2", at=2.0, input={"pin": "1234"})
    await indexed.catch_up_search_index()

    def in_index() -> int:
        with closing(sqlite3.connect(indexed.path)) as db:
            blocks = [row[0] for row in db.execute("SELECT block FROM runs_text_data")]
            texts = [row[0] for row in db.execute("SELECT c0 FROM runs_text_content")]
        tail = secret.encode()[1:]
        return sum(bytes(b).count(tail) for b in blocks if b) + sum(secret in t for t in texts)

    assert in_index() > 0  # the check can see it
    assert await ids(indexed, secret) == ["run_1"]
    await finish(indexed, run, "done")
    await indexed.purge_payloads("run_1", at=5.0, reason="retention")
    with closing(sqlite3.connect(indexed.path)) as db:
        assert db.execute("SELECT due FROM runs_text_merge").fetchone()[0] == 1
    assert await indexed.catch_up_search_index() == 1
    assert in_index() == 0
    with closing(sqlite3.connect(indexed.path)) as db:
        assert db.execute("SELECT due FROM runs_text_merge").fetchone()[0] == 0
        db.execute("INSERT INTO runs_text (runs_text) VALUES ('integrity-check')")
    assert await ids(indexed, secret) == []
    assert await ids(indexed, "1234") == ["run_2"]


async def test_the_stores_thread_keeps_the_index_in_step(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        for n in range(3):
            await add_run(store, f"run_{n}", at=float(n), input={"n": f"quokka-{n}"})
        indexer = store.indexer
        assert indexer is not None
        for _ in range(200):  # the store is idle now: the thread takes the whole queue
            if queued(store) == 0:
                break
            await asyncio.sleep(0.05)
        assert queued(store) == 0
        assert indexer.indexed >= 3
        assert await ids(store, "quokka-1") == ["run_1"]
    finally:
        await store.close()
    assert not indexer.is_alive()


async def test_without_the_trigram_tokenizer_the_search_reads_the_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite_module, "trigram_available", lambda db: False)
    with caplog.at_level(logging.WARNING, logger="proctor.store"):
        store = SQLiteStore(tmp_path / "s.db")
    try:
        assert "no FTS5 trigram tokenizer" in caplog.text
        await add_run(store, "run_1", at=1.0, input={"animal": "quokka"})
        assert store.indexer is None
        assert await store.catch_up_search_index() == 0
        assert await ids(store, "quokka") == ["run_1"]
        await finish(store, await _get(store, "run_1"), "done")
        await store.purge_payloads("run_1", at=5.0, reason="retention")
        assert await ids(store, "quokka") == []
    finally:
        await store.close()
    with closing(sqlite3.connect(tmp_path / "s.db")) as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name LIKE 'runs_text%'").fetchall()


async def _get(store: Store, run_id: str) -> RunRecord:
    run = await store.get_run(run_id)
    assert run is not None
    return run


async def test_a_damaged_index_costs_speed_not_answers(
    indexed: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await add_run(indexed, "run_1", at=1.0, input={"animal": "quokka"})
    await indexed.catch_up_search_index()
    with closing(sqlite3.connect(indexed.path)) as db:  # its segments gone
        db.execute("DELETE FROM runs_text_data WHERE id > 10")
        db.commit()
    with caplog.at_level(logging.WARNING, logger="proctor.store"):
        assert await ids(indexed, "quokka") == ["run_1"]
    assert "could not be read" in caplog.text
    with closing(sqlite3.connect(indexed.path)) as db:  # what the warning says to do
        db.execute("INSERT INTO runs_text (runs_text) VALUES ('rebuild')")
        db.execute("INSERT INTO runs_text (runs_text) VALUES ('integrity-check')")
        db.commit()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="proctor.store"):
        assert await ids(indexed, "quokka") == ["run_1"]
    assert not caplog.text
