"""The fold reads event fields, never rule ids: ``policy_decided.invalid_arguments``, and
logs written before that field existed fold as they always did."""

from __future__ import annotations

from proctor.store import (
    Event,
    EventData,
    ModelCalled,
    PolicyDecided,
    RecordedToolCall,
    RunStarted,
    RunState,
    Usage,
)


def turn(*call_ids: str) -> ModelCalled:
    return ModelCalled(
        model="m",
        turn=1,
        messages_digest="d",
        usage=Usage(),
        cost_usd=0.0,
        latency_ms=1.0,
        tool_calls=[RecordedToolCall(id=c, name="t") for c in call_ids],
    )


def fold(*items: EventData) -> RunState:
    started = RunStarted(
        workflow="w", model="m", contract_name="w", contract_version="1", contract_hash="h"
    )
    events = [
        Event(
            run_id="r",
            seq=seq,
            ts=1.0,
            trace_id="t",
            span_id="s",
            parent_span_id=None,
            data=data,
            prev_hash="",
            hash="",
        )
        for seq, data in enumerate([started, *items])
    ]
    return RunState.from_events(events)


def decided(call_id: str, rule: str, *, invalid: bool) -> PolicyDecided:
    return PolicyDecided(
        call_id=call_id,
        tool="t",
        decision="deny",
        rule=rule,
        reason="no",
        invalid_arguments=invalid,
    )


def test_invalid_calls_in_a_row_count_by_the_events_field() -> None:
    state = fold(turn("a", "b"), decided("a", "x", invalid=True), decided("b", "y", invalid=True))
    assert (state.invalid_streak, state.denied_since_turn) == (2, False)

    state = fold(turn("a", "b"), decided("a", "x", invalid=True), decided("b", "y", invalid=False))
    assert (state.invalid_streak, state.denied_since_turn) == (0, True)


def test_a_log_written_before_the_field_folds_as_before() -> None:
    stored = decided("a", "schema.invalid_arguments", invalid=True).model_dump(mode="json")
    del stored["invalid_arguments"]
    old_invalid = PolicyDecided.model_validate(stored)
    stored = decided("b", "contract.forbidden_tool", invalid=False).model_dump(mode="json")
    del stored["invalid_arguments"]
    old_denial = PolicyDecided.model_validate(stored)

    assert old_invalid.invalid_arguments
    assert not old_denial.invalid_arguments
    state = fold(turn("a", "b"), old_invalid)
    assert (state.invalid_streak, state.denied_since_turn) == (1, False)
    state = fold(turn("a", "b"), old_invalid, old_denial)
    assert (state.invalid_streak, state.denied_since_turn) == (0, True)
