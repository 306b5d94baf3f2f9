"""Runs of the shipped invoice workflow, for tests that tell, purge or compare them."""

from __future__ import annotations

import dataclasses

from proctor.examples import invoice
from proctor.runtime import Runner, Workflow, decide_approval
from proctor.store import ContractRecord, RunJournal, RunRecord, RunStarted, Store


def invoice_workflow(**contract_changes: object) -> Workflow:
    """The shipped invoice workflow, its contract changed as given (e.g. retention_days)."""
    flow = invoice.workflow()
    terms = flow.contract.model_validate({**flow.contract.model_dump(), **contract_changes})
    return dataclasses.replace(flow, contract=terms)


async def approved_run(store: Store, flow: Workflow | None = None) -> str:
    """An over-threshold invoice, started by alice, approved by bob, paid: resolved."""
    runner = Runner(store, flow or invoice.workflow())
    started = await runner.start(invoice.sample_input("over_threshold"), started_by="cli:alice")
    assert started.status == "awaiting_approval"
    assert started.state.pending_approval is not None
    await decide_approval(
        store, started.state.pending_approval, approved=True, by="bob", reason="checked with AP"
    )
    result = await runner.resume(started.run_id, reason="approved by bob")
    assert result.outcome == "resolved", result.state.finish_reason
    return started.run_id


async def store_version(store: Store, version: ContractRecord) -> str:
    """Store ``version`` as a run would (a one-event run under it); returns that run's id."""
    run_id = f"run_{version.content_hash[:16]}"
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    row, event = journal.build(
        RunStarted(
            workflow=version.workflow,
            model="scripted",
            contract_name=version.workflow,
            contract_version=version.version,
            contract_hash=version.content_hash,
        )
    )
    run = RunRecord(
        run_id=run_id,
        workflow=version.workflow,
        model="scripted",
        contract_name=version.workflow,
        contract_hash=version.content_hash,
        trace_id="t" * 32,
        started_at=event.ts,
        last_seq=0,
        head_hash=row.hash,
    )
    await store.create_run(run, row, contract=version)
    return run_id
