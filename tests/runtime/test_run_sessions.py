"""A run's session key and search text: given at start (directly or through the queue),
chained in ``run_started``, kept on the run's record with its redacted input, its answer
and the tools it proposed."""

from __future__ import annotations

import pytest

from proctor.errors import UsageError
from proctor.examples import invoice
from proctor.runtime import Runner, Worker, WorkerOptions, load_workflow_ref, submit
from proctor.store import RunFilter, Store, verify_run

REF = "invoice_reconciliation"


async def test_a_session_is_chained_and_recorded_with_the_runs_text(store: Store) -> None:
    runner = Runner(store, load_workflow_ref(REF))
    clean = await runner.start(
        invoice.sample_input("clean"), model="scripted:procedure", session="chat-7"
    )
    injected = await runner.start(
        invoice.sample_input("injected"), model="scripted:gullible", session="chat-7"
    )
    alone = await runner.start(invoice.sample_input("clean"), model="scripted:procedure")
    first = (await store.events(clean.run_id))[0]
    assert first.meta["session"] == "chat-7"
    assert "session" not in (await store.events(alone.run_id))[0].meta
    assert (await verify_run(store, clean.run_id)).ok

    run = await store.get_run(clean.run_id)
    assert run is not None
    assert run.session == "chat-7"
    assert "Acme Supplies GmbH" in run.input_text
    assert run.answer_text.startswith("Paid invoice INV-2026-0042")
    assert run.tools_used.split() == [
        "ocr.parse_invoice",
        "erp.lookup_vendor",
        "erp.fetch_po",
        "policy.check_thresholds",
        "erp.create_payment",
    ]
    escalated = await store.get_run(injected.run_id)
    assert escalated is not None
    # Redacted as the log records it: the IBAN the invoice names never reaches the row.
    assert "[iban:redacted]" in escalated.input_text
    assert (escalated.answer_text, escalated.tools_used) == (
        "",
        "ocr.parse_invoice wire_transfer.create",
    )
    listed = await store.list_runs(RunFilter(session="chat-7", sort="started"))
    assert [r.run_id for r in listed] == [clean.run_id, injected.run_id]
    found = await store.list_runs(RunFilter(search="wire_transfer"))
    assert [r.run_id for r in found] == [injected.run_id]


async def test_a_bad_session_key_is_refused_before_anything_is_recorded(store: Store) -> None:
    runner = Runner(store, load_workflow_ref(REF))
    with pytest.raises(UsageError, match="characters a session key cannot"):
        await runner.start(invoice.sample_input("clean"), session="chat 7")
    with pytest.raises(UsageError, match="more than 128"):
        await submit(store, REF, invoice.sample_input("clean"), session="x" * 200)
    assert await store.list_runs(RunFilter()) == []
    assert await store.queue_items() == []


async def test_a_queued_run_starts_with_its_session(store: Store) -> None:
    run_id = await submit(
        store, REF, invoice.sample_input("clean"), model="scripted:procedure", session="t-42"
    )
    [item] = await store.queue_items()
    assert item.session == "t-42"
    options = WorkerOptions(drain=True, concurrency=1, lease_s=5, poll_s=0.05)
    assert (await Worker(store, options).run()).finished == 1
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.session, run.outcome) == ("t-42", "resolved")
    assert (await store.events(run_id))[0].meta["session"] == "t-42"
