"""Retention: finished runs past their contract's retention_days lose payloads, not proof."""

from __future__ import annotations

import pytest

from proctor.audit import apply_retention, build_receipt, receipt_html
from proctor.errors import RunStateError
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import Store, row_to_event, verify_run
from support.invoice_runs import approved_run, invoice_workflow
from support.raw_sql import execute_raw

DAY = 86400.0


async def finished_at(store: Store, run_id: str) -> float:
    record = await store.get_run(run_id)
    assert record is not None
    assert record.finished_at is not None
    return record.finished_at


async def payloads(store: Store, run_id: str) -> int:
    """How many of the run's events still hold a payload."""
    return sum(bool(row.content) for row in await store.events(run_id))


# A purge moves the run's head to its chained `purged` event; nothing else in the row.
_HEAD = ("last_seq", "head_hash", "updated_at")


async def records(store: Store, *run_ids: str) -> list[dict[str, object]]:
    """The runs' records, all but where their chain's head is."""
    found = [await store.get_run(run_id) for run_id in run_ids]
    return [{k: v for k, v in vars(run).items() if k not in _HEAD} if run else {} for run in found]


@pytest.fixture
async def runs(store: Store) -> dict[str, str]:
    """Runs under a 30-day contract (finished, waiting) and one kept forever."""
    kept_30 = invoice_workflow(retention_days=30)
    waiting = await Runner(store, kept_30).start(invoice.sample_input("over_threshold"))
    assert waiting.status == "awaiting_approval"
    return {
        "expiring": await approved_run(store, kept_30),
        "waiting": waiting.run_id,
        "forever": await approved_run(store),
    }


async def test_dry_run_reports_what_apply_then_purges(store: Store, runs: dict[str, str]) -> None:
    expiring = runs["expiring"]
    later = await finished_at(store, expiring) + 31 * DAY
    before = await records(store, *runs.values())
    held = await payloads(store, expiring)

    dry = await apply_retention(store, dry_run=True, now=later)

    assert [item.run.run_id for item in dry.items] == [expiring]
    assert dry.runs == 1
    assert dry.events == held > 0
    assert dry.bytes > 0
    assert await payloads(store, expiring) == held
    assert await store.get_purge(expiring) is None

    done = await apply_retention(store, now=later)

    assert (done.runs, done.events, done.bytes) == (dry.runs, dry.events, dry.bytes)
    assert done.items[0].retention_days == 30
    assert await payloads(store, expiring) == 0
    purge = await store.get_purge(expiring)
    assert purge is not None
    assert (purge.events, purge.bytes, purge.purged_at) == (done.events, done.bytes, later)
    # The proof and the figures stay: the chain verifies and every run record is unchanged
    # but for the purged run's copies of its input and answer (for search), which go too.
    assert (await verify_run(store, expiring)).ok
    assert before[0]["input_text"]
    assert before[0]["answer_text"]
    before[0] |= {"input_text": "", "answer_text": ""}
    assert await records(store, *runs.values()) == before
    # The waiting run and the run kept forever are untouched.
    for kept in (runs["waiting"], runs["forever"]):
        assert all(row.content is not None for row in await store.events(kept))
    arguments = {a.run_id: a.arguments for a in await store.list_approvals(None)}
    assert arguments[expiring] == {}
    assert arguments[runs["forever"]]["amount"] == 24500.0

    again = await apply_retention(store, now=later + DAY)
    assert again.runs == 0


async def test_nothing_is_purged_before_its_time_or_outside_the_workflow(
    store: Store, runs: dict[str, str]
) -> None:
    finished = await finished_at(store, runs["expiring"])

    early = await apply_retention(store, now=finished + 29 * DAY)
    other = await apply_retention(store, now=finished + 31 * DAY, workflow="refunds")
    mine = await apply_retention(
        store, dry_run=True, now=finished + 31 * DAY, workflow="invoice_reconciliation"
    )

    assert (early.runs, other.runs, mine.runs) == (0, 0, 1)


async def test_a_purged_run_still_reads_and_is_marked_purged(
    store: Store, runs: dict[str, str]
) -> None:
    expiring = runs["expiring"]
    later = await finished_at(store, expiring) + 31 * DAY
    await apply_retention(store, now=later)

    events = [row_to_event(row) for row in await store.events(expiring)]
    receipt = await build_receipt(store, expiring, now=later)
    page = receipt_html(receipt)

    assert any(event.purged for event in events)
    assert receipt.verification.ok
    assert receipt.run.input is None
    assert receipt.run.input_purged
    assert receipt.run.outcome == "resolved"
    assert all(call.arguments is None and call.purged for call in receipt.tool_calls)
    assert [call.decision for call in receipt.tool_calls] == ["allow"] * 5
    assert receipt.approvals[0].decided_by == "bob"
    assert receipt.purge is not None
    assert receipt.purge.events > 0
    day = receipt.purge.purged_at[:10] if receipt.purge.purged_at else ""
    assert f"payload purged on {day} under retention; hash retained" in page
    assert "24500" not in page  # the payment's arguments and result are gone


async def test_only_finished_runs_can_be_purged(store: Store, runs: dict[str, str]) -> None:
    with pytest.raises(RunStateError, match="awaiting_approval: only finished runs"):
        await store.purge_payloads(runs["waiting"], at=0.0, reason="test")
    with pytest.raises(RunStateError, match="not in this store"):
        await store.purge_payloads("run_nope", at=0.0, reason="test")


async def test_a_waiting_run_is_never_selected_however_old(
    store: Store, runs: dict[str, str]
) -> None:
    # Even a record that claims to have finished long ago is not purged while it waits.
    await execute_raw(store, "UPDATE runs SET finished_at = 0 WHERE run_id = ?", (runs["waiting"],))
    rows = await store.events(runs["waiting"])

    report = await apply_retention(store, now=rows[-1].ts + 1000 * DAY)

    assert runs["waiting"] not in [item.run.run_id for item in report.items]
    assert all(row.content is not None for row in await store.events(runs["waiting"]))
