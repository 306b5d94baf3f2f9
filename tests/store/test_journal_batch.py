"""``RunJournal`` owns its batch: ``seal`` chains now, ``commit`` writes (or restores the
head), and ``resume`` continues a stored chain."""

from __future__ import annotations

import pytest

from proctor.errors import ChainConflictError
from proctor.store import (
    EventData,
    RunJournal,
    RunRecord,
    RunResumed,
    RunStarted,
    Store,
    row_to_event,
    verify_run,
)

TRACE = "a" * 32


def journal_for(store: Store) -> RunJournal:
    return RunJournal(store, run_id="run-1", trace_id=TRACE, root_span_id="root-span")


def run_record() -> RunRecord:
    return RunRecord(
        run_id="run-1",
        workflow="w",
        model="scripted",
        contract_name="w",
        contract_hash="c" * 64,
        trace_id=TRACE,
        started_at=1000.0,
    )


def story() -> list[EventData]:
    """A run that starts and is resumed five times (the events' kind does not matter here)."""
    started = RunStarted(
        workflow="w",
        model="scripted",
        contract_name="w",
        contract_version="1",
        contract_hash="c" * 64,
    )
    return [started, *(RunResumed(reason=f"resume {i}", pid=i) for i in range(1, 6))]


async def test_sealed_events_are_chained_at_once_and_written_by_commit(store: Store) -> None:
    journal = journal_for(store)
    sealed = journal.seal(story()[:2])
    sealed += journal.seal(story()[2:4], span_id="turn-1")

    assert [event.seq for event in sealed] == [0, 1, 2, 3]
    assert [row.seq for row in journal.pending] == [0, 1, 2, 3]
    assert await store.events("run-1") == []

    run = run_record()
    written = await journal.commit(run=run)

    assert [row_to_event(row) for row in await store.events("run-1")] == sealed
    assert [row.seq for row in written] == [0, 1, 2, 3]
    assert journal.pending == []
    assert (run.last_seq, run.head_hash) == (3, sealed[-1].hash)


async def test_a_failed_commit_restores_the_head_and_drops_the_batch(store: Store) -> None:
    journal = journal_for(store)
    await journal.append(story()[:2])
    stale = journal_for(store)  # believes the run is empty
    stale.seal(story()[:1])
    stale.seal(story()[1:3])

    with pytest.raises(ChainConflictError, match="another writer"):
        await stale.commit()

    assert (stale.last_seq, stale.head_hash) == (-1, journal_for(store).head_hash)
    assert stale.pending == []
    extended = await journal.append(story()[2:3])
    assert extended[0].seq == 2


async def test_resume_continues_the_stored_chain(store: Store) -> None:
    await journal_for(store).append(story()[:3], run=run_record())
    rows = await store.events("run-1")

    resumed = RunJournal.resume(store, rows)
    events = await resumed.append(story()[3:])

    assert (resumed.run_id, resumed.trace_id, resumed.root_span_id) == (
        "run-1",
        TRACE,
        "root-span",
    )
    assert [event.seq for event in events] == [3, 4, 5]
    assert events[0].prev_hash == rows[-1].hash
    assert (await verify_run(store, "run-1")).ok
