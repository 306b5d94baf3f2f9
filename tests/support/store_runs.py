"""Runs as the runner records them, made directly in a store (the store's tests)."""

from __future__ import annotations

from typing import Any

from proctor.store import RunJournal, RunRecord, RunStarted, Store, summary_input


async def start_run(
    store: Store,
    run_id: str,
    *,
    at: float,
    tenant: str = "default",
    session: str | None = None,
    input: dict[str, Any] | None = None,
    answer: str = "",
    tools: str = "",
    cost: float | None = 0.0,
    duration: float = 1.0,
    status: str = "running",
    tokens: tuple[int, int] = (0, 0),
    model: str = "scripted",
    started_by: str = "",
) -> tuple[RunJournal, RunRecord]:
    """A run as the runner records one: its ``run_started`` and its summary row; and
    the journal that writes its next events."""
    journal = RunJournal(store, run_id=run_id, trace_id="t" * 32, root_span_id="root")
    started = RunStarted(
        workflow="invoices",
        model=model,
        contract_name="invoices",
        contract_version="1",
        contract_hash="c" * 64,
        tenant=tenant,
        session=session,
        input=input or {},
    )
    row, _ = journal.build(started, ts=at)
    run = RunRecord(
        run_id=run_id,
        workflow="invoices",
        model=model,
        contract_name="invoices",
        contract_hash="c" * 64,
        trace_id="t" * 32,
        started_at=at,
        updated_at=at,
        last_seq=journal.last_seq,
        head_hash=journal.head_hash,
        tenant=tenant,
        started_by=started_by,
        session=session,
        input_text=summary_input(input or {}),
        answer_text=answer,
        tools_used=tools,
        cost_usd=cost,
        duration_s=duration,
        status=status,  # type: ignore[arg-type]  # the tests' statuses are RunStatus values
        input_tokens=tokens[0],
        output_tokens=tokens[1],
    )
    await store.create_run(run, row)
    return journal, run


async def add_run(store: Store, run_id: str, *, at: float, **fields: Any) -> RunRecord:
    """``start_run``'s summary row alone."""
    _, run = await start_run(store, run_id, at=at, **fields)
    return run
