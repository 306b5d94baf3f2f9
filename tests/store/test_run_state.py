"""``RunState``: the fold over a run's events that policy and the loop read."""

from __future__ import annotations

import pytest

from proctor.store import (
    ApprovalDecided,
    ApprovalRequested,
    DecisionKind,
    DraftRecorded,
    Escalated,
    Event,
    EventData,
    EventRow,
    LimitReached,
    ModelCalled,
    PolicyDecided,
    RecordedToolCall,
    RunFinished,
    RunJournal,
    RunResumed,
    RunStarted,
    RunState,
    Store,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
    digest,
    row_to_event,
)


class Log:
    """Builds a run's events with explicit timestamps (nothing is written)."""

    def __init__(self, store: Store) -> None:
        self.journal = RunJournal(store, run_id="run-1", trace_id="t" * 32, root_span_id="root")
        self.rows: list[EventRow] = []
        self.events: list[Event] = []

    def add(self, ts: float, *items: EventData) -> RunState:
        for data in items:
            row, event = self.journal.build(data, ts=ts)
            self.rows.append(row)
            self.events.append(event)
        return RunState.from_events(self.events)


def start() -> RunStarted:
    return RunStarted(
        workflow="invoices",
        model="scripted",
        contract_name="invoice-reconciliation",
        contract_version="1",
        contract_hash="c" * 64,
        input={"po_number": "PO-1001"},
    )


def turn(
    n: int,
    *calls: tuple[str, str],
    tokens: tuple[int, int] = (100, 20),
    cost: float | None = 0.001,
    text: str | None = None,
) -> ModelCalled:
    return ModelCalled(
        model="scripted",
        turn=n,
        messages_digest="m" * 64,
        usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1]),
        cost_usd=cost,
        latency_ms=1.0,
        tool_call_count=len(calls),
        text=text,
        tool_calls=[
            RecordedToolCall(id=call_id, name=name, arguments={"id": call_id})
            for call_id, name in calls
        ],
    )


def proposed(call_id: str, tool: str, step: int) -> ToolProposed:
    arguments = {"id": call_id}
    return ToolProposed(
        call_id=call_id, step=step, tool=tool, args_digest=digest(arguments), arguments=arguments
    )


def decided(call_id: str, tool: str, decision: DecisionKind = "allow") -> PolicyDecided:
    return PolicyDecided(call_id=call_id, tool=tool, decision=decision, rule="r", reason="why")


def executed(call_id: str, tool: str, *, ok: bool = True) -> list[EventData]:
    return [
        ToolStarted(call_id=call_id, tool=tool, idempotency_key=f"run-1:{call_id}"),
        ToolFinished(call_id=call_id, tool=tool, ok=ok, latency_ms=2.0, result={"ok": ok}),
    ]


def requested(call_id: str, tool: str) -> ApprovalRequested:
    return ApprovalRequested(
        approval_id=f"ap-{call_id}",
        call_id=call_id,
        tool=tool,
        args_digest=digest({"id": call_id}),
        rule="approvals.pay",
        reason="large payment",
    )


def approval(call_id: str, *, approved: bool) -> ApprovalDecided:
    return ApprovalDecided(
        approval_id=f"ap-{call_id}", call_id=call_id, approved=approved, decided_by="alice"
    )


@pytest.fixture
def log(store: Store) -> Log:
    return Log(store)


def test_run_started_sets_identity(log: Log) -> None:
    state = log.add(1000.0, start())

    assert (state.run_id, state.workflow, state.model) == ("run-1", "invoices", "scripted")
    assert state.contract_hash == "c" * 64
    assert (state.status, state.outcome, state.started_ts) == ("running", None, 1000.0)
    assert (state.last_seq, state.head_hash) == (0, log.events[0].hash)


def test_counters_add_up_calls_tokens_and_cost(log: Log) -> None:
    log.add(1000.0, start())
    log.add(1001.0, turn(1, ("c1", "erp.fetch_po"), tokens=(100, 20), cost=0.25))
    log.add(1002.0, proposed("c1", "erp.fetch_po", 1), decided("c1", "erp.fetch_po"))
    log.add(1003.0, *executed("c1", "erp.fetch_po"))
    state = log.add(1004.0, turn(2, tokens=(300, 50), cost=0.5, text="Done."))

    assert (state.model_calls, state.tool_calls, state.executed_calls) == (2, 1, 1)
    assert (state.input_tokens, state.output_tokens, state.tokens) == (400, 70, 470)
    assert state.cost_known
    assert state.cost_usd == pytest.approx(0.75)
    assert state.succeeded["erp.fetch_po"] == 1
    assert state.final_text == "Done."
    assert state.answered
    assert state.totals(1004.0) == Totals(
        tool_calls=1,
        model_calls=2,
        input_tokens=400,
        output_tokens=70,
        cost_usd=0.75,
        duration_s=4.0,
    )


def test_one_model_call_of_unknown_cost_makes_the_cost_unknown(log: Log) -> None:
    log.add(1000.0, start(), turn(1, cost=0.25))
    log.add(1001.0, turn(2, cost=None))
    state = log.add(1002.0, turn(3, cost=0.5))

    assert not state.cost_known
    assert state.totals(1002.0).cost_usd is None
    assert state.model_calls == 3


def test_a_failed_tool_finishes_the_call_without_counting_a_success(log: Log) -> None:
    log.add(1000.0, start(), turn(1, ("c1", "erp.fetch_po")))
    state = log.add(
        1001.0, proposed("c1", "erp.fetch_po", 1), *executed("c1", "erp.fetch_po", ok=False)
    )

    call = state.calls["c1"]
    assert (call.finished, call.ok, call.attempts) == (True, False, 1)
    assert state.succeeded["erp.fetch_po"] == 0
    assert state.next_call() is None


def test_next_call_walks_the_latest_turn_in_order(log: Log) -> None:
    state = log.add(1000.0, start(), turn(1, ("c1", "a.one"), ("c2", "a.two"), ("c3", "a.three")))
    assert state.turn_calls == ["c1", "c2", "c3"]
    assert not state.answered

    def next_id(state: RunState) -> str | None:
        call = state.next_call()
        return None if call is None else call.call.id

    assert next_id(state) == "c1"
    state = log.add(1001.0, proposed("c1", "a.one", 1), decided("c1", "a.one"))
    assert next_id(state) == "c1"  # allowed, not yet executed
    assert state.calls["c1"].step == 1
    assert (state.calls["c1"].decision, state.calls["c1"].rule) == ("allow", "r")
    state = log.add(1002.0, *executed("c1", "a.one"))
    assert next_id(state) == "c2"
    state = log.add(1003.0, proposed("c2", "a.two", 2), decided("c2", "a.two", "deny"))
    assert next_id(state) == "c3"
    state = log.add(
        1004.0, proposed("c3", "a.three", 3), DraftRecorded(call_id="c3", tool="a.three")
    )
    assert state.calls["c3"].drafted
    assert next_id(state) is None

    state = log.add(1005.0, turn(2, ("c4", "a.one")))
    assert state.turn_calls == ["c4"]
    assert next_id(state) == "c4"
    assert set(state.calls) == {"c1", "c2", "c3", "c4"}


def test_an_approval_pauses_the_run_and_records_the_approved_call(log: Log) -> None:
    log.add(1000.0, start(), turn(1, ("c1", "erp.pay")))
    log.add(1001.0, proposed("c1", "erp.pay", 1), decided("c1", "erp.pay", "require_approval"))
    waiting = log.add(1010.0, requested("c1", "erp.pay"))

    assert waiting.status == "awaiting_approval"
    assert waiting.pending_approval == "ap-c1"
    assert waiting.calls["c1"].approval == "pending"
    assert waiting.next_call() is waiting.calls["c1"]
    # While waiting, the clock of the run stands still.
    assert waiting.active_seconds(1010.0) == pytest.approx(10.0)
    assert waiting.active_seconds(1500.0) == pytest.approx(10.0)

    state = log.add(1100.0, approval("c1", approved=True))

    assert state.status == "running"
    assert state.pending_approval is None
    assert state.calls["c1"].approval == "approved"
    assert state.paused_s == pytest.approx(90.0)
    assert state.active_seconds(1105.0) == pytest.approx(15.0)
    assert state.totals(1105.0).duration_s == pytest.approx(15.0)


def test_a_denied_approval_resumes_the_run_with_the_call_still_open(log: Log) -> None:
    log.add(1000.0, start(), turn(1, ("c1", "erp.pay")))
    log.add(1001.0, proposed("c1", "erp.pay", 1), decided("c1", "erp.pay", "require_approval"))
    log.add(1002.0, requested("c1", "erp.pay"))
    state = log.add(1003.0, approval("c1", approved=False))

    assert state.calls["c1"].approval == "denied"
    assert state.status == "running"


def test_pauses_count_even_when_the_clock_starts_at_zero(log: Log) -> None:
    # Replays and tests run on clocks that start at 0.0; a pause begun at 0.0 is a pause.
    log.add(0.0, start(), turn(1, ("c1", "erp.pay")), proposed("c1", "erp.pay", 1))
    state = log.add(0.0, requested("c1", "erp.pay"))

    assert state.paused_since == 0.0
    assert state.active_seconds(100.0) == 0.0


def test_time_a_crashed_process_was_down_is_not_active_time(log: Log) -> None:
    log.add(1000.0, start())
    log.add(1001.0, turn(1))
    state = log.add(1300.0, RunResumed(reason="worker restarted", pid=42))

    assert state.paused_s == pytest.approx(299.0)
    assert state.active_seconds(1301.0) == pytest.approx(2.0)


def test_escalation_to_draft_only_switches_the_run_to_drafts(log: Log) -> None:
    log.add(1000.0, start())
    handoff = Escalated(trigger="tool_error", mode="handoff", rule="e1", reason="tool broke")
    state = log.add(1001.0, handoff)
    assert not state.draft_only

    draft = Escalated(trigger="policy_violation", mode="draft_only", rule="e2", reason="denied")
    state = log.add(1002.0, draft)

    assert state.draft_only
    assert state.escalations == [handoff, draft]


def test_limits_reached_are_kept(log: Log) -> None:
    limit = LimitReached(limit="cost_usd", value=1.2, ceiling=1.0, rule="limits", reason="over")

    state = log.add(1000.0, start(), limit)

    assert state.limits_hit == [limit]


def test_run_finished_sets_the_outcome(log: Log) -> None:
    log.add(1000.0, start(), turn(1, text="All reconciled."))
    state = log.add(
        1001.0, RunFinished(outcome="resolved", reason="answered", totals=Totals(model_calls=1))
    )

    assert (state.status, state.outcome) == ("finished", "resolved")
    assert state.final_text == "All reconciled."
    assert (state.last_seq, state.head_hash) == (2, log.events[-1].hash)


async def test_folding_stored_events_gives_the_same_state(store: Store, log: Log) -> None:
    log.add(1000.0, start(), turn(1, ("c1", "erp.pay")))
    log.add(1001.0, proposed("c1", "erp.pay", 1), decided("c1", "erp.pay", "require_approval"))
    log.add(1002.0, requested("c1", "erp.pay"))
    live = log.add(1050.0, approval("c1", approved=True), *executed("c1", "erp.pay"))
    await store.append(log.rows)

    resumed = RunState.from_events([row_to_event(row) for row in await store.events("run-1")])

    assert resumed == live
