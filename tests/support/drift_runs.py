"""Constructed production runs with known outcomes, costs and tool calls, for drift tests.

Each run is a real hash chain in the store (``run_started``, one ``tool_proposed`` per
tool call, ``run_finished``) with its ``runs`` row and its contract version, written
the way the runtime writes them, but with the figures chosen by the test.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path

from proctor.contracts import Contract, contract_record, load_contract
from proctor.store import (
    Escalated,
    EscalationTrigger,
    Outcome,
    RunFinished,
    RunJournal,
    RunRecord,
    RunStarted,
    Store,
    ToolProposed,
    Totals,
)

_ids = itertools.count()
DAY = 86_400.0


async def record_run(
    store: Store,
    contract: Contract,
    *,
    tools: Sequence[str] = (),
    outcome: Outcome | None = "resolved",
    cost: float | None = 0.001,
    age_s: float = 3600.0,
    workflow: str | None = None,
    tenant: str = "default",
    model: str = "scripted",
    duration_s: float = 1.0,
    trigger: EscalationTrigger | None = None,
    started_at: float | None = None,
    run_id: str | None = None,
    started_by: str = "",
) -> str:
    """A run of ``contract``'s workflow that started ``age_s`` ago, proposed ``tools``
    and ended with ``outcome`` (``None``: still running), having spent ``cost``; with
    ``trigger``, it escalated for that reason first. ``started_at`` (epoch seconds)
    overrides ``age_s``."""
    run_id = run_id or f"run_{next(_ids):016x}"
    started_at = time.time() - age_s if started_at is None else started_at
    name = workflow or contract.workflow
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    row, _ = journal.build(
        RunStarted(
            workflow=name,
            model="scripted",
            contract_name=contract.workflow,
            contract_version=contract.version,
            contract_hash=contract.content_hash,
            input={"n": run_id},
        ),
        ts=started_at,
    )
    record = RunRecord(
        run_id=run_id,
        workflow=name,
        model=model,
        contract_name=contract.workflow,
        contract_hash=contract.content_hash,
        trace_id=journal.trace_id,
        started_at=started_at,
        updated_at=started_at,
        last_seq=0,
        head_hash=row.hash,
        tenant=tenant,
        started_by=started_by,
    )
    await store.create_run(record, row, contract=contract_record(contract, at=started_at))
    events: list[RunFinished | ToolProposed | Escalated] = [
        ToolProposed(call_id=f"c{i}", step=i, tool=tool, args_digest="d")
        for i, tool in enumerate(tools)
    ]
    if trigger is not None:
        events.append(Escalated(trigger=trigger, mode="handoff", rule="r", reason="test"))
    record.tool_calls = len(tools)
    record.cost_usd = cost
    if outcome is not None:
        totals = Totals(tool_calls=len(tools), cost_usd=cost)
        events.append(RunFinished(outcome=outcome, reason="done", totals=totals))
        record.status, record.outcome = "finished", outcome
        record.finished_at, record.duration_s = started_at + duration_s, duration_s
    await journal.append(events, run=record)
    return run_id


async def record_runs(store: Store, contract: Contract, count: int, **figures: object) -> None:
    """``count`` runs alike (see ``record_run``)."""
    for _ in range(count):
        await record_run(store, contract, **figures)  # type: ignore[arg-type]


def write_rollout(
    folder: Path,
    *,
    percent: float = 10,
    base: str = "",
    candidate: str = "limits: {max_tool_calls: 9}\n",
    workflow: str = "refunds",
) -> tuple[Path, Contract]:
    """``contract.yaml`` (``base`` terms, rolling out) and ``candidate.yaml`` (``candidate``
    terms, version 2) in ``folder``; returns the main file and its loaded contract."""
    main = folder / "contract.yaml"
    (folder / "candidate.yaml").write_text(
        f'workflow: {workflow}\nversion: "2"\n{candidate}', encoding="utf-8"
    )
    main.write_text(
        f'workflow: {workflow}\nversion: "1"\n{base}'
        f"rollout:\n  candidate: candidate.yaml\n  percent: {percent}\n",
        encoding="utf-8",
    )
    return main, load_contract(main)
