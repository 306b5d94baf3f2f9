"""The run queue's worker: submitted invoice runs are driven to the end, approvals
included, and a run whose worker died is taken over from its log."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any

from proctor.examples import invoice
from proctor.runtime import (
    Runner,
    Worker,
    WorkerOptions,
    Workflow,
    decide_approval,
    open_queued,
    submit,
)
from proctor.store import Store, row_to_event
from proctor.tools import Registry, Tool

REF = "invoice_reconciliation"
DRAIN = WorkerOptions(drain=True, concurrency=3, lease_s=5, poll_s=0.05)


async def test_a_worker_drives_submitted_runs_through_an_approval(store: Store) -> None:
    scenarios = invoice.DEMO_SCENARIOS
    run_ids = [
        await submit(
            store,
            REF,
            invoice.sample_input(s.input_name),
            model=s.model,
            submitted_by="cli:alice",
            priority=n,
        )
        for n, s in enumerate(scenarios)
    ]
    stats = await Worker(store, DRAIN).run()
    assert (stats.claimed, stats.finished, stats.waiting, stats.failed) == (6, 5, 1, 0)
    for run_id, scenario in zip(run_ids, scenarios, strict=True):
        run = await store.get_run(run_id)
        assert run is not None
        assert (run.outcome or run.status) == scenario.expected, run_id
        assert (run.started_by, run.tenant) == ("cli:alice", "default")
    [waiting] = await store.queue_items(state="waiting")
    [approval] = await store.list_approvals()
    assert approval.run_id == waiting.run_id
    await decide_approval(store, approval.approval_id, approved=True, by="bob", reason="ok")

    again = await Worker(store, DRAIN).run()
    assert (again.claimed, again.finished) == (1, 1)
    run = await store.get_run(waiting.run_id)
    assert run is not None
    assert run.outcome == "resolved"
    assert {i.state for i in await store.queue_items()} == {"done"}


def counting(calls: Counter[str]) -> Workflow:
    """The invoice workflow, counting how often each tool really runs."""
    flow = invoice.workflow()

    def wrap(real: Tool) -> Tool:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[real.name] += 1
            return real.function(*args, **kwargs)

        return dataclasses.replace(real, function=counted)

    return dataclasses.replace(flow, registry=Registry([wrap(t) for t in flow.registry]))


async def test_an_expired_lease_is_taken_over_from_the_log(store: Store) -> None:
    calls: Counter[str] = Counter()
    flow = counting(calls)
    run_id = await submit(store, REF, invoice.sample_input("over_threshold"), submitted_by="al")
    # A worker claimed it, drove it as far as the approval, and died (its lease lapses).
    [item] = await store.claim_runs("dead", now=time.time() - 60, lease_s=1, limit=1)
    runner = Runner(store, flow)
    started = await runner.start(
        (await open_queued(store, runner.deps.keys, item)).input, started_by="al", run_id=run_id
    )
    assert started.state.pending_approval is not None
    await decide_approval(store, started.state.pending_approval, approved=True, by="bob")
    before = sum(calls.values())

    stats = await Worker(store, DRAIN, load=lambda ref: flow).run()
    assert (stats.claimed, stats.retried, stats.finished) == (1, 1, 1)
    [done] = await store.queue_items()
    assert (done.state, done.attempts) == ("done", 1)
    events = [row_to_event(row) for row in await store.events(run_id)]
    finished = Counter(e.data.call_id for e in events if e.type == "tool_finished")  # type: ignore[union-attr]
    assert max(finished.values()) == 1
    # Every tool ran exactly once: the calls recorded before the takeover were not re-run.
    assert sum(calls.values()) == len(finished) > before
    assert events[-1].type == "run_finished"
