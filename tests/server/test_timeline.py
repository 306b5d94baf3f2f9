"""A run's log as waterfall rows: kinds, labels, depth by span, timing and bar geometry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proctor.examples.invoice import sample_input
from proctor.runtime import Runner, load_workflow_ref
from proctor.server._timeline import Timeline, TimelineRow, build_timeline, describe
from proctor.store import EventRow, SQLiteStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "timeline.db")
    yield store
    await store.close()


async def run_events(store: SQLiteStore, sample: str, model: str) -> list[EventRow]:
    runner = Runner(store, load_workflow_ref("invoice_reconciliation"))
    result = await runner.start(sample_input(sample), model=model, started_by="alice")
    return await store.events(result.run_id)


def row(
    seq: int,
    type_: str,
    ts: float,
    span: str = "s",
    parent: str | None = "root",
    content: dict[str, Any] | None = None,
    **meta: Any,
) -> EventRow:
    return EventRow(
        run_id="run_t",
        seq=seq,
        type=type_,
        ts=ts,
        trace_id="t",
        span_id=span,
        parent_span_id=parent,
        meta={"type": type_, **meta},
        content=content,
        content_digest="",
        prev_hash="",
        hash="",
    )


def by_type(timeline: Timeline, type_: str) -> list[TimelineRow]:
    return [r for r in timeline.rows if r.type == type_]


async def test_a_denied_payment_reads_as_a_waterfall(db: SQLiteStore) -> None:
    events = await run_events(db, "inflated", "scripted:pushy")
    timeline = build_timeline(events)
    assert [r.seq for r in timeline.rows] == [e.seq for e in events]
    first = timeline.rows[0]
    assert (first.kind, first.depth, first.offset_ms, first.label) == (
        "start",
        0,
        0.0,
        "run started",
    )
    assert "by alice" in first.detail

    model = by_type(timeline, "model_called")[0]
    assert (model.kind, model.depth, model.status) == ("model", 1, "info")
    assert model.label == "model scripted:pushy · turn 1"
    assert model.detail == "1 tool call"
    usage = events[model.seq].meta["usage"]
    assert model.tokens == usage["input_tokens"] + usage["output_tokens"]
    assert model.cost_usd == events[model.seq].meta["cost_usd"]
    assert model.duration_ms == events[model.seq].meta["latency_ms"]

    payment = next(r for r in by_type(timeline, "tool_proposed") if "create_payment" in r.label)
    assert (payment.kind, payment.depth, payment.status) == ("tool", 1, "bad")
    assert payment.detail == "deny: approval.denied"  # the last decision on the call
    steps = [r for r in timeline.rows if r.depth == 2 and r.seq > payment.seq]
    assert [r.type for r in steps] == [
        "policy_decided",
        "approval_requested",
        "checker_decided",
        "approval_decided",
        "policy_decided",
    ]
    asked, *_, denied = steps
    assert (asked.label, asked.status) == ("policy require approval", "warn")
    assert (denied.label, denied.status) == ("policy deny", "bad")
    assert denied.detail.startswith("approval.denied: the checker denied erp.create_payment")
    assert steps[2].tokens is not None
    assert steps[2].cost_usd is not None

    credential = by_type(timeline, "credential_issued")[0]
    assert (credential.kind, credential.depth) == ("credential", 2)
    assert credential.detail == "scopes vendor.read; valid 60 s"
    escalated = by_type(timeline, "escalated")[0]
    assert (escalated.kind, escalated.label, escalated.status) == (
        "escalation",
        "escalated (handoff)",
        "warn",
    )
    assert escalated.detail.startswith("policy_violation: ")
    finished = timeline.rows[-1]
    assert (finished.kind, finished.label, finished.status) == (
        "finish",
        "finished: escalated",
        "warn",
    )


async def test_rows_fit_the_waterfall_and_a_call_spans_its_steps(db: SQLiteStore) -> None:
    events = await run_events(db, "clean", "scripted:procedure")
    timeline = build_timeline(events)
    start = events[0].ts
    assert timeline.total_ms == pytest.approx(
        max(r.offset_ms + r.duration_ms for r in timeline.rows)
    )
    for r in timeline.rows:
        assert 0 <= r.left_pct <= 100
        assert 0 <= r.width_pct <= 100 - r.left_pct + 1e-9
        end = (events[r.seq].ts - start) * 1000
        if r.type != "tool_proposed":  # work is drawn ending when its event was written
            assert r.offset_ms + r.duration_ms == pytest.approx(end, abs=1e-6)
    for opener in by_type(timeline, "tool_proposed"):
        span = events[opener.seq].span_id
        last = max(e.ts for e in events if e.span_id == span)
        assert opener.offset_ms + opener.duration_ms == pytest.approx((last - start) * 1000)
        assert opener.status == "ok"
        assert opener.detail == "succeeded"


def test_rows_come_from_metadata_so_purged_and_unknown_events_still_draw() -> None:
    events = [
        row(
            0,
            "run_started",
            100.0,
            span="root",
            parent=None,
            content=None,
            workflow="w",
            contract_name="w",
            contract_version="2",
            started_by="bob",
        ),
        row(1, "tool_proposed", 100.1, span="c1", tool="erp.pay", step=0),
        row(
            2,
            "policy_decided",
            100.1,
            span="c1",
            decision="require_approval",
            rule="r",
            reason="big",
        ),
        row(3, "approval_requested", 100.1, span="c1", by="human", rule="r", reason="big"),
        row(4, "approval_decided", 101.0, span="c1", approved=True, decided_by="bob", reason=""),
        row(5, "tool_finished", 101.5, span="c1", ok=False, latency_ms=400.0, error_type="Timeout"),
        row(6, "limit_reached", 101.6, span="l", limit="tool_calls", reason="too many"),
        row(7, "teleported", 101.7, span="x", where="moon"),
    ]
    timeline = build_timeline(events)
    labels = [(r.kind, r.depth, r.label, r.detail, r.status) for r in timeline.rows]
    assert labels == [
        ("start", 0, "run started", "w under w v2, by bob", "muted"),
        ("tool", 1, "tool erp.pay", "failed: Timeout", "bad"),
        ("policy", 2, "policy require approval", "r: big", "warn"),
        ("approval", 2, "approval requested (human)", "r: big", "warn"),
        ("approval", 2, "approved by bob", "no reason given", "ok"),
        ("tool", 2, "failed", "Timeout", "bad"),
        ("limit", 1, "limit reached: tool_calls", "too many", "bad"),
        ("other", 1, "teleported", "", "muted"),
    ]
    finished = timeline.rows[5]
    assert (finished.offset_ms, finished.duration_ms) == pytest.approx((1100.0, 400.0))
    call = timeline.rows[1]
    assert (call.offset_ms, call.duration_ms) == pytest.approx((100.0, 1400.0))
    assert timeline.total_ms == pytest.approx(1700.0)
    assert timeline.rows[-1].left_pct == 100.0
    assert timeline.rows[-1].width_pct == 0.0


def test_an_empty_log_is_an_empty_timeline() -> None:
    assert build_timeline([]) == Timeline(rows=[], total_ms=0.0)
    only = build_timeline([row(0, "run_started", 5.0, span="root", parent=None)])
    assert only.total_ms == 0.0
    assert only.rows[0].width_pct == 0.0


def test_a_resume_reason_that_says_resumed_is_not_said_twice() -> None:
    assert describe("run_resumed", {"reason": "resumed"}) == ("resumed", "", "muted")
    assert describe("run_resumed", {"reason": "resumed by worker w1"})[1] == "by worker w1"
    assert describe("run_resumed", {"reason": "approved by bob"})[1] == "approved by bob"
