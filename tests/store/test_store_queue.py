"""Store contract tests for the run queue: claim order, leases, limits, waiting runs."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from proctor.errors import StoreError
from proctor.store import (
    MemoryStore,
    QueueItem,
    RunResumed,
    SQLiteStore,
    Store,
)
from support.store_runs import start_run


def item(run_id: str, *, at: float, priority: int = 0, workflow: str = "invoices") -> QueueItem:
    return QueueItem(
        run_id=run_id,
        workflow=workflow,
        input={"invoice": run_id, "amount": 1.5},
        priority=priority,
        submitted_at=at,
        submitted_by="alice",
    )


def ids(items: list[QueueItem]) -> list[str]:
    return [i.run_id for i in items]


def second_store(store: Store) -> Store:
    """Another connection to the same store, as a second worker process would hold."""
    if isinstance(store, MemoryStore):
        return store  # one process's memory: every worker in it shares the one object
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    from proctor.store import PostgresStore

    assert isinstance(store, PostgresStore)
    return PostgresStore(store.url, max_size=2)


async def test_claims_highest_priority_first_then_oldest(store: Store) -> None:
    await store.enqueue(item("old", at=1.0))
    await store.enqueue(item("new", at=2.0))
    await store.enqueue(item("urgent", at=3.0, priority=5))
    claimed = await store.claim_runs("w1", now=10.0, lease_s=30, limit=2)
    assert ids(claimed) == ["urgent", "old"]
    assert claimed[0].input == {"invoice": "urgent", "amount": 1.5}
    assert (claimed[0].state, claimed[0].worker, claimed[0].lease_until) == ("claimed", "w1", 40.0)
    assert ids(await store.claim_runs("w2", now=11.0, lease_s=30, limit=5)) == ["new"]
    assert await store.claim_runs("w3", now=12.0, lease_s=30, limit=5) == []
    assert ids(await store.queue_items(run_ids=["new", "old", "none"])) == ["old", "new"]
    assert await store.queue_items(run_ids=[]) == []
    listed = await store.queue_items(state="claimed")
    assert [(i.run_id, i.worker) for i in listed] == [
        ("urgent", "w1"),
        ("old", "w1"),
        ("new", "w2"),
    ]


async def test_an_expired_lease_is_reclaimed_as_a_retry(store: Store) -> None:
    await store.enqueue(item("a", at=1.0))
    await store.claim_runs("dead", now=10.0, lease_s=30, limit=1)
    assert await store.claim_runs("w2", now=39.0, lease_s=30, limit=1) == []  # still live
    [taken] = await store.claim_runs("w2", now=41.0, lease_s=30, limit=1)
    assert (taken.worker, taken.attempts, taken.lease_until) == ("w2", 1, 71.0)
    # The dead worker's lease is gone: it can neither renew nor release the item.
    assert await store.renew_leases("dead", ["a"], now=42.0, lease_s=30) == []
    assert not await store.release_run("a", "dead", state="done", now=42.0)
    assert await store.renew_leases("w2", ["a", "unknown"], now=50.0, lease_s=30) == ["a"]
    [held] = await store.queue_items()
    assert held.lease_until == 80.0
    assert await store.release_run("a", "w2", state="done", now=60.0)
    [done] = await store.queue_items(state="done")
    assert (done.finished_at, done.lease_until, done.worker) == (60.0, None, "w2")
    assert await store.claim_runs("w3", now=1e9, lease_s=30, limit=1) == []


async def test_released_to_the_queue_an_item_is_claimable_at_once(store: Store) -> None:
    await store.enqueue(item("a", at=1.0))
    await store.claim_runs("w1", now=10.0, lease_s=30, limit=1)
    assert await store.release_run("a", "w1", state="queued", now=11.0)
    [back] = await store.queue_items(state="queued")
    assert (back.worker, back.lease_until, back.attempts) == (None, None, 0)
    assert ids(await store.claim_runs("w2", now=12.0, lease_s=30, limit=1)) == ["a"]


async def test_concurrency_limits_count_live_leases_per_workflow(store: Store) -> None:
    for n in range(4):
        await store.enqueue(item(f"inv{n}", at=float(n), workflow="invoices"))
    await store.enqueue(item("ref0", at=9.0, workflow="refunds"))
    limits = {"invoices": 2}
    first = await store.claim_runs("w1", now=10.0, lease_s=30, limit=1, concurrency=limits)
    second = await store.claim_runs("w2", now=10.0, lease_s=30, limit=5, concurrency=limits)
    assert ids(first) == ["inv0"]
    assert ids(second) == ["inv1", "ref0"]
    assert await store.claim_runs("w3", now=20.0, lease_s=30, limit=5, concurrency=limits) == []
    await store.release_run("inv0", "w1", state="done", now=21.0)
    third = await store.claim_runs("w3", now=22.0, lease_s=30, limit=5, concurrency=limits)
    assert ids(third) == ["inv2"]
    # Only the workflows a worker serves.
    await store.enqueue(item("ref1", at=30.0, workflow="refunds"))
    assert await store.claim_runs("w4", now=23.0, lease_s=30, limit=5, workflows=["other"]) == []
    assert ids(
        await store.claim_runs("w4", now=23.0, lease_s=30, limit=5, workflows=["refunds"])
    ) == ["ref1"]


async def test_a_waiting_item_is_claimable_once_its_run_runs_again(store: Store) -> None:
    journal, run = await start_run(store, "r1", at=1.0)
    await store.enqueue(item("r1", at=1.0))
    await store.claim_runs("w1", now=10.0, lease_s=30, limit=1)
    waiting = dataclasses.replace(run, status="awaiting_approval")
    await journal.append([RunResumed(reason="asks", pid=1)], run=waiting)
    assert await store.release_run("r1", "w1", state="waiting", now=11.0)
    assert await store.claim_runs("w2", now=1e9, lease_s=30, limit=1) == []  # waits for a person
    # A decision sets the run's row running again (decide_approval does so).
    await journal.append([RunResumed(reason="approved", pid=1)], run=dataclasses.replace(run))
    [again] = await store.claim_runs("w2", now=12.0, lease_s=30, limit=1)
    assert (again.run_id, again.worker, again.attempts) == ("r1", "w2", 0)


async def test_two_claimers_never_claim_the_same_item(store: Store) -> None:
    for n in range(30):
        await store.enqueue(item(f"r{n:02}", at=float(n)))
    other = second_store(store)
    try:

        async def drain(claimer: Store, worker: str) -> list[str]:
            got: list[str] = []
            while batch := await claimer.claim_runs(worker, now=10.0, lease_s=30, limit=3):
                got.extend(ids(batch))
                await asyncio.sleep(0)
            return got

        one, two = await asyncio.gather(drain(store, "w1"), drain(other, "w2"))
    finally:
        await other.close()
    assert sorted(one + two) == [f"r{n:02}" for n in range(30)]
    assert not set(one) & set(two)


async def test_a_run_is_queued_once(store: Store) -> None:
    await store.enqueue(item("a", at=1.0))
    with pytest.raises(StoreError, match="queued already"):
        await store.enqueue(item("a", at=2.0))


async def test_one_run_is_claimed_by_one_process_until_its_lease_lapses(store: Store) -> None:
    recovering = item("r1", at=1.0)
    assert await store.claim_run(recovering, "cli-a", now=10.0, lease_s=30)
    [held] = await store.queue_items()
    assert (held.state, held.worker, held.lease_until, held.attempts) == (
        "claimed",
        "cli-a",
        40.0,
        0,
    )
    assert not await store.claim_run(recovering, "cli-b", now=39.0, lease_s=30)  # still live
    assert await store.renew_leases("cli-a", ["r1"], now=39.0, lease_s=30) == ["r1"]
    assert not await store.claim_run(recovering, "cli-b", now=60.0, lease_s=30)
    # Its holder died: the lease lapses, and the next claim is a retry.
    assert await store.claim_run(recovering, "cli-b", now=70.0, lease_s=30)
    assert await store.release_run("r1", "cli-b", state="done", now=71.0)
    # Done (the run was recovered, then interrupted again): claimable again at once.
    assert await store.claim_run(recovering, "cli-c", now=72.0, lease_s=30)
    [again] = await store.queue_items()
    assert (again.worker, again.attempts, again.finished_at) == ("cli-c", 1, None)


async def test_a_run_the_workers_are_to_drive_is_not_claimed_outside_the_queue(
    store: Store,
) -> None:
    await store.enqueue(item("queued", at=1.0))
    await store.enqueue(item("waiting", at=2.0))
    await store.claim_runs("w1", now=10.0, lease_s=30, limit=2)
    assert await store.release_run("queued", "w1", state="queued", now=11.0)
    assert await store.release_run("waiting", "w1", state="waiting", now=11.0)

    assert not await store.claim_run(item("queued", at=1.0), "cli", now=1e9, lease_s=30)
    assert not await store.claim_run(item("waiting", at=2.0), "cli", now=1e9, lease_s=30)


async def test_of_many_concurrent_claims_of_one_run_one_wins(store: Store) -> None:
    others = [second_store(store) for _ in range(5)]
    try:
        won = await asyncio.gather(
            *(
                claimer.claim_run(item("r1", at=1.0), f"cli-{n}", now=10.0, lease_s=30)
                for n, claimer in enumerate([store, *others])
            )
        )
    finally:
        for other in others:
            await other.close()
    assert sorted(won) == [False] * 5 + [True]
