"""Interrupted runs: found by their dead owner, claimed by one recovering process at a time.

Threat model: a crash (a run's process dies; several processes then try to recover it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proctor.runtime import interrupted_runs, recovery_claim
from proctor.store import QueueItem, RunJournal, RunRecord, RunResumed, RunStarted, SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "runs.db")
    yield db
    await db.close()


async def dead_owner() -> str:
    """``host:pid`` of a process of this host that has exited."""
    process = await asyncio.create_subprocess_exec("true")
    await process.wait()
    return f"{socket.gethostname()}:{process.pid}"


async def orphan(store: SQLiteStore, run_id: str = "r1") -> tuple[RunJournal, RunRecord]:
    """A running run whose owner process died."""
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    started = RunStarted(
        workflow="w", model="scripted", contract_name="w", contract_version="1",
        contract_hash="c" * 64,
    )  # fmt: skip
    row, event = journal.build(started)
    run = RunRecord(
        run_id=run_id,
        workflow="w",
        model="scripted",
        contract_name="w",
        contract_hash="c" * 64,
        trace_id="t" * 32,
        started_at=event.ts,
        last_seq=0,
        head_hash=row.hash,
        owner=await dead_owner(),
        workflow_ref="flows:w",
    )
    await store.create_run(run, row)
    return journal, run


async def test_one_process_at_a_time_holds_an_interrupted_run(store: SQLiteStore) -> None:
    _, run = await orphan(store)
    other = SQLiteStore(store.path)
    try:
        assert [r.run_id for r in await interrupted_runs(store)] == ["r1"]
        async with recovery_claim(store, run) as first:
            assert first
            async with recovery_claim(other, run) as second:
                assert not second  # someone else has it
            # Held by a live claim: not listed as interrupted meanwhile.
            assert await interrupted_runs(other) == []
        [item] = await store.queue_items(run_ids=["r1"])
        assert (item.state, item.workflow, item.input) == ("done", "flows:w", {})
        # Released without resuming it: still interrupted, claimable again.
        assert [r.run_id for r in await interrupted_runs(other)] == ["r1"]
        async with recovery_claim(other, run) as again:
            assert again
    finally:
        await other.close()


async def test_a_run_resumed_since_it_was_listed_is_someone_elses(store: SQLiteStore) -> None:
    journal, run = await orphan(store)
    [listed] = await interrupted_runs(store)
    # Another process resumed it meanwhile (it owns it now, alive) and let go of its claim.
    alive = dataclasses.replace(run, owner=f"{socket.gethostname()}:1")
    await journal.append([RunResumed(reason="resumed", pid=1)], run=alive)

    async with recovery_claim(store, listed) as ours:
        assert not ours


async def test_a_claim_whose_holder_died_is_nobodys(store: SQLiteStore) -> None:
    _, run = await orphan(store)
    item = QueueItem(run_id="r1", workflow="flows:w", input={})
    assert await store.claim_run(item, "died", now=time.time() - 60, lease_s=30)  # lapsed

    assert [r.run_id for r in await interrupted_runs(store)] == ["r1"]
    async with recovery_claim(store, run) as ours:
        assert ours
    [done] = await store.queue_items(run_ids=["r1"])
    assert (done.state, done.attempts) == ("done", 1)
