"""Contract versions and retention purges in the store (every backend must pass these)."""

from __future__ import annotations

import dataclasses

import pytest

from proctor.errors import RunStateError
from proctor.store import (
    ContractRecord,
    RunFinished,
    RunJournal,
    RunRecord,
    RunStarted,
    Store,
    ToolProposed,
    Totals,
    digest,
    verify_run,
)


def version(
    content_hash: str, *, workflow: str = "invoices", days: int | None = None
) -> ContractRecord:
    body = {"workflow": workflow, "version": content_hash[:2], "retention_days": days}
    return ContractRecord(
        content_hash=content_hash,
        workflow=workflow,
        version=content_hash[:2],
        body=body,
        created_at=1000.0,
        retention_days=days,
    )


async def start(
    store: Store, run_id: str, contract: ContractRecord, *, at: float = 1000.0
) -> tuple[RunJournal, RunRecord]:
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    started = RunStarted(
        workflow=contract.workflow,
        model="scripted",
        contract_name=contract.workflow,
        contract_version=contract.version,
        contract_hash=contract.content_hash,
        input={"secret": "payload"},
    )
    row, _ = journal.build(started, ts=at)
    run = RunRecord(
        run_id=run_id,
        workflow=contract.workflow,
        model="scripted",
        contract_name=contract.workflow,
        contract_hash=contract.content_hash,
        trace_id="t" * 32,
        started_at=at,
        updated_at=at,
        last_seq=0,
        head_hash=row.hash,
    )
    await store.create_run(run, row, contract=dataclasses.replace(contract, created_at=at))
    return journal, run


async def finish(journal: RunJournal, run: RunRecord, *, at: float) -> None:
    proposed = ToolProposed(
        call_id="c1", step=0, tool="erp.pay", args_digest=digest({}), arguments={"amount": 9}
    )
    finished = RunFinished(outcome="resolved", reason="done", totals=Totals(), final_text="ok")
    run.status, run.outcome, run.finished_at = "finished", "resolved", at
    rows = [journal.build(data, ts=at)[0] for data in (proposed, finished)]
    run.last_seq, run.head_hash = journal.last_seq, journal.head_hash
    await journal.store.append(rows, run=run)


async def test_a_version_is_stored_once_with_its_first_use_and_counts_its_runs(
    store: Store,
) -> None:
    v1, v2 = version("aa" + "1" * 62), version("bb" + "2" * 62, workflow="refunds")
    await start(store, "run-1", v1, at=1000.0)
    await start(store, "run-2", v1, at=2000.0)
    await start(store, "run-3", v2, at=3000.0)

    every = await store.contracts()

    assert [(v.content_hash, v.runs, v.created_at) for v in every] == [
        (v2.content_hash, 1, 3000.0),
        (v1.content_hash, 2, 1000.0),
    ]
    assert every[1].body == v1.body
    assert [v.content_hash for v in await store.contracts(workflow="refunds")] == [v2.content_hash]
    assert [v.content_hash for v in await store.contracts(hash_prefix="aa1")] == [v1.content_hash]
    assert await store.contracts(hash_prefix="ab") == []


async def test_expired_runs_are_the_finished_ones_past_their_contracts_retention(
    store: Store,
) -> None:
    kept_10 = version("cc" + "3" * 62, days=10)
    forever = version("dd" + "4" * 62)
    journal, done = await start(store, "done", kept_10)
    await finish(journal, done, at=1000.0)
    await start(store, "running", kept_10)
    journal, kept = await start(store, "kept", forever)
    await finish(journal, kept, at=1000.0)
    day = 86400.0

    assert await store.expired_runs(1000.0 + 9 * day) == []
    assert [r.run_id for r in await store.expired_runs(1000.0 + 10 * day)] == ["done"]
    assert await store.expired_runs(1000.0 + 10 * day, workflow="refunds") == []


async def test_a_purge_keeps_the_chain_and_is_not_selected_again(store: Store) -> None:
    kept_10 = version("ee" + "5" * 62, days=10)
    journal, run = await start(store, "run-1", kept_10)
    await finish(journal, run, at=1000.0)
    later = 1000.0 + 11 * 86400.0

    measured = await store.purge_payloads("run-1", at=later, reason="test", dry_run=True)
    assert all(row.content for row in await store.events("run-1"))
    purged = await store.purge_payloads("run-1", at=later, reason="retention")

    assert (measured.events, measured.bytes) == (purged.events, purged.bytes)
    assert (purged.events, purged.reason) == (3, "retention")
    assert purged.bytes > 0
    rows = await store.events("run-1")
    assert [row.content for row in rows] == [None, None, None]
    assert (await verify_run(store, "run-1")).ok
    assert await store.get_purge("run-1") == purged
    assert await store.expired_runs(later) == []
    assert await store.get_run("run-1") == run


async def test_unfinished_runs_cannot_be_purged(store: Store) -> None:
    await start(store, "running", version("ff" + "6" * 62, days=1))

    with pytest.raises(RunStateError, match="running: only finished runs"):
        await store.purge_payloads("running", at=0.0, reason="test", dry_run=True)
    assert await store.get_purge("running") is None
