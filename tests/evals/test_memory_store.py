"""The replay's scratch store keeps the chain's rule and forgets runs on request; it keeps
eval results as every store does."""

from __future__ import annotations

import pytest

from proctor.errors import ChainConflictError, RunStateError
from proctor.evals import MemoryStore
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import QueueItem, RunFilter, verify_run
from support.eval_results import check_eval_results_round_trip


async def test_a_run_in_memory_verifies_and_is_forgotten() -> None:
    store = MemoryStore()
    result = await Runner(store, invoice.workflow()).start(invoice.sample_input("over_threshold"))
    assert result.status == "awaiting_approval"
    assert (await verify_run(store, result.run_id)).ok
    assert [r.run_id for r in await store.list_runs(RunFilter(status="awaiting_approval"))] == [
        result.run_id
    ]
    assert len(await store.list_approvals()) == 1
    rows = await store.events(result.run_id)
    with pytest.raises(ChainConflictError):
        await store.append([rows[-1]])  # not the next sequence number
    with pytest.raises(RunStateError):  # as on every store: only finished runs are purged
        await store.purge_payloads(result.run_id, at=0.0, reason="x")
    store.forget(result.run_id)
    assert await store.events(result.run_id) == []
    assert await store.get_run(result.run_id) is None
    assert await store.list_approvals(None) == []


async def test_eval_results_round_trip_in_memory() -> None:
    await check_eval_results_round_trip(MemoryStore())


async def test_a_run_is_claimed_by_one_process_in_memory_too() -> None:
    store = MemoryStore()
    recovering = QueueItem(run_id="r1", workflow="invoices", input={})
    assert await store.claim_run(recovering, "cli-a", now=10.0, lease_s=30)
    assert not await store.claim_run(recovering, "cli-b", now=39.0, lease_s=30)
    assert await store.claim_run(recovering, "cli-b", now=41.0, lease_s=30)  # lapsed: a retry
    assert await store.release_run("r1", "cli-b", state="done", now=42.0)
    assert await store.claim_run(recovering, "cli-c", now=43.0, lease_s=30)
    [held] = await store.queue_items()
    assert (held.state, held.worker, held.attempts, held.finished_at) == (
        "claimed",
        "cli-c",
        1,
        None,
    )
