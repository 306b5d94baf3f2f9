"""``redecide_runs``: recorded invoice runs re-decided under candidate contracts."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from proctor.contracts import Contract
from proctor.errors import NotFoundError, UsageError
from proctor.evals import (
    ChangeTotals,
    RunChanges,
    changes_json,
    recorded_runs,
    redecide_runs,
)
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import Store
from support.invoice_runs import approved_run, invoice_workflow

WORKFLOW = "invoice_reconciliation"


def _candidate(**changes: Any) -> Contract:
    return invoice_workflow(**changes).contract


async def _redecide(store: Store, contract: Contract, *run_ids: str) -> list[RunChanges]:
    return await redecide_runs(store, contract, invoice.registry(), list(run_ids))


async def _run(store: Store, sample: str, model: str = "scripted:procedure") -> str:
    result = await Runner(store, invoice.workflow()).start(
        invoice.sample_input(sample), model=model
    )
    return result.run_id


async def test_the_recorded_contract_changes_no_decision(store: Store) -> None:
    clean = await _run(store, "clean")
    approved = await approved_run(store)
    hasty = await _run(store, "clean", "scripted:hasty")
    injected = await _run(store, "injected", "scripted:gullible")

    results = await _redecide(store, invoice.contract(), clean, approved, hasty, injected)

    assert [run.changes for run in results] == [[], [], [], []]
    # Every tool call's first decision, and the answers that ended a run; not approval.granted.
    assert [run.checked for run in results] == [6, 6, 4, 2]
    assert [run.unchecked for run in results] == [[], [], [], []]
    totals = ChangeTotals.of(results)
    assert (totals.runs, totals.checked, totals.changed) == (4, 18, 0)
    # The injected IBAN was masked in the record: those calls were decided on placeholders.
    assert results[3].redacted == 2
    assert results[3].notes == [
        "redaction rewrote part of the run's input: conditions on it read the placeholders"
    ]
    assert totals.summary() == (
        "4 run(s), 18 decision(s) checked: no decision changes; 2 decided on redacted values"
    )


async def test_a_deny_rule_newly_denies_a_recorded_payment(store: Store) -> None:
    clean = await _run(store, "clean")
    rules = [
        *invoice.contract().model_dump()["rules"],
        {"deny": "erp.create_payment", "when": "args.amount > 1000", "id": "cap"},
    ]

    [run] = await _redecide(store, _candidate(rules=rules), clean)

    [change] = run.changes
    assert (change.change, change.subject, change.tool, change.step) == (
        "newly_denied",
        "call",
        "erp.create_payment",
        4,
    )
    assert (change.recorded.kind, change.recorded.rule) == ("allow", "default.allow")
    assert (change.candidate.kind, change.candidate.rule) == ("deny", "rule.cap")
    assert change.candidate.reason == "erp.create_payment: args.amount > 1000 (rule.cap)"
    assert str(change.recorded) == "allow [default.allow]"
    assert ChangeTotals.of([run]).summary() == (
        "1 run(s), 6 decision(s) checked: 1 changed (1 newly denied)"
    )


async def test_removing_an_approval_newly_allows_the_held_payment(store: Store) -> None:
    approved = await approved_run(store)

    [run] = await _redecide(store, _candidate(approvals=[]), approved)

    [change] = run.changes
    assert change.change == "newly_allowed"
    assert (change.recorded.kind, change.recorded.rule) == (
        "require_approval",
        "approval.erp.create_payment",
    )
    assert (change.candidate.kind, change.candidate.rule) == ("allow", "default.allow")
    data = changes_json("v2.yaml", [run], candidate_hash="abc")
    assert data["totals"]["newly_allowed"] == 1
    assert data["runs"][0]["changes"][0]["change"] == "newly_allowed"
    assert data["candidate_hash"] == "abc"


async def test_a_held_call_and_another_rule(store: Store) -> None:
    clean = await _run(store, "clean")
    approvals = [{"tool": "erp.create_payment", "id": "all"}]
    ordering = [{"tool": "erp.create_payment", "after": ["policy.check_thresholds"], "id": "x"}]

    [held] = await _redecide(store, _candidate(approvals=approvals), clean)
    [renamed] = await _redecide(store, _candidate(ordering=ordering), await _hasty(store))

    assert [(c.change, c.candidate.rule) for c in held.changes] == [("newly_held", "approval.all")]
    assert [(c.change, c.recorded.rule, c.candidate.rule) for c in renamed.changes] == [
        ("other_rule", "ordering.erp.create_payment", "ordering.x")
    ]


async def _hasty(store: Store) -> str:
    return await _run(store, "clean", "scripted:hasty")


async def test_final_answers_are_judged_again(store: Store) -> None:
    clean = await _run(store, "clean")
    final = [{"when": '"Paid" in text', "id": "paid", "on_violation": "handoff"}]
    refused = await Runner(store, invoice_workflow(final=final)).start(
        invoice.sample_input("clean")
    )
    assert refused.outcome == "escalated"

    [newly_refused] = await _redecide(store, _candidate(final=final), clean)
    [newly_accepted] = await _redecide(store, invoice.contract(), refused.run_id)
    steps = [*invoice.contract().required_steps, "erp.archive_invoice"]
    [missing] = await _redecide(store, _candidate(required_steps=steps), clean)

    [change] = newly_refused.changes
    assert (change.subject, change.tool, change.step, change.change) == (
        "answer",
        None,
        6,
        "newly_denied",
    )
    assert (change.recorded.rule, change.candidate.rule) == ("default.allow", "final.paid")
    assert [(c.change, c.recorded.rule) for c in newly_accepted.changes] == [
        ("newly_allowed", "final.paid")
    ]
    assert [c.candidate.rule for c in missing.changes] == ["contract.required_steps"]


async def test_a_purged_run_is_reported_not_compared(store: Store) -> None:
    clean = await _run(store, "clean")
    await store.purge_payloads(clean, at=time.time(), reason="retention")

    [run] = await _redecide(store, _candidate(approvals=[]), clean)

    assert (run.purged, run.checked, run.changes) == (True, 0, [])
    assert run.notes == ["retention purged this run's content: nothing was compared"]
    assert ChangeTotals.of([run]).summary() == (
        "1 run(s), 0 decision(s) checked: no decision changes; 1 run(s) purged by retention"
    )


async def test_recorded_runs_picks_by_id_window_and_count(store: Store) -> None:
    first = await _run(store, "clean")
    second = await _run(store, "clean")

    newest = await recorded_runs(store, WORKFLOW, limit=1)
    assert [r.run_id for r in newest] == [second]
    assert {r.run_id for r in await recorded_runs(store, WORKFLOW)} == {first, second}
    assert await recorded_runs(store, WORKFLOW, since=time.time() + 60) == []
    assert [r.run_id for r in await recorded_runs(store, WORKFLOW, run_ids=[first])] == [first]
    with pytest.raises(NotFoundError, match="no run 'run_nope'"):
        await recorded_runs(store, WORKFLOW, run_ids=["run_nope"])
    with pytest.raises(UsageError, match="is a run of workflow 'invoice_reconciliation'"):
        await recorded_runs(store, "refunds", run_ids=[first])
    with pytest.raises(NotFoundError, match="no run 'run_nope'"):
        await _redecide(store, invoice.contract(), "run_nope")


def test_changes_are_values() -> None:
    run = RunChanges(run_id="run_x", contract_hash="h")
    assert dataclasses.asdict(run)["changes"] == []
    assert ChangeTotals.of([]).summary() == "0 run(s), 0 decision(s) checked: no decision changes"
