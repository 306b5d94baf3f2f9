"""The mapping from events to spans, over every event type, without any exporter."""

from __future__ import annotations

import pytest

from proctor.store import (
    EVENT_TYPES,
    CheckerDecided,
    ModelAttemptFailed,
    ModelCalled,
    Outcome,
    RunFinished,
    Totals,
)
from proctor.telemetry import CONTENT_ATTRIBUTES, RunSpans, SpanData, spans_for_run
from proctor.telemetry._spans import derived_span_id, span_id_of, trace_id_of
from support.run_log import ROOT, TRACE, Log, called, every_event_type, proposed, started


def by_name(spans: list[SpanData]) -> dict[str, SpanData]:
    named: dict[str, SpanData] = {}
    for span in spans:
        key = span.name
        while key in named:
            key += "'"
        named[key] = span
    return named


def event_names(span: SpanData) -> list[str]:
    return [e.name for e in span.events]


def test_the_log_above_records_every_event_type() -> None:
    recorded = {event.type for event in every_event_type().events}
    assert recorded == {t.model_fields["type"].default for t in EVENT_TYPES}


def test_every_event_type_becomes_a_span_or_a_span_event() -> None:
    log = every_event_type()
    spans = by_name(spans_for_run(log.events))

    assert sorted(spans) == [
        "chat gpt-b",
        "chat gpt-b'",
        "chat gpt-b''",
        "chat scripted:checker",
        "execute_tool billing.pay",
        "execute_tool billing.pay'",
        "execute_tool billing.pay''",
        "execute_tool crm.lookup",
        "execute_tool crm.lookup'",
        "execute_tool wire.send",
        "invoke_agent refunds",
    ]
    root = spans["invoke_agent refunds"]
    assert event_names(root) == [
        "proctor.model_routed",
        "proctor.run_resumed",
        "proctor.escalated",
        "proctor.answer_refused",
        "proctor.values_seen",
        "proctor.context_compacted",
        "proctor.model_attempt_failed",  # the gateway gave up: no model call to attach it to
        "proctor.limit_reached",
        "proctor.purged",
    ]
    first_chat = spans["chat gpt-b"]
    assert event_names(first_chat) == [
        "proctor.rate_limited",
        "proctor.model_attempt_failed",
        "proctor.cache_hit",
    ]
    assert first_chat.attributes["gen_ai.request.model"] == "gpt-a"  # fell back to gpt-b
    assert first_chat.attributes["gen_ai.response.model"] == "gpt-b"
    lookup = spans["execute_tool crm.lookup"]
    assert event_names(lookup) == ["proctor.policy_decided", "proctor.cache_hit"]
    paid = spans["execute_tool billing.pay"]
    assert event_names(paid) == [
        "proctor.policy_decided",
        "proctor.approval_requested",
        "proctor.checker_decided",
        "proctor.approval_decided",
        "proctor.policy_decided",
        "proctor.credential_issued",
        "proctor.tool_started",
        "proctor.policy_decided",
    ]
    assert event_names(spans["execute_tool billing.pay'"])[-1] == "proctor.draft_recorded"
    assert event_names(spans["execute_tool billing.pay''"])[-2:] == [
        "proctor.approval_expired",
        "proctor.policy_decided",
    ]
    checker = spans["chat scripted:checker"]
    assert checker.parent_span_id == paid.span_id  # the checker judged that call
    assert checker.attributes["proctor.checker"] is True


def test_span_names_kinds_parents_and_ids_follow_the_log() -> None:
    log = every_event_type()
    spans = spans_for_run(log.events)
    root = by_name(spans)["invoke_agent refunds"]

    assert {s.trace_id for s in spans} == {TRACE}
    assert (root.span_id, root.parent_span_id, root.kind) == (ROOT, None, "internal")
    for span in spans:
        operation = span.attributes["gen_ai.operation.name"]
        assert span.name.split(" ")[0] == operation
        if operation == "chat":
            assert span.kind == "client"
        elif operation == "execute_tool":
            assert span.kind == "internal"
            assert span.parent_span_id == ROOT
            call_id = span.attributes["gen_ai.tool.call.id"]
            assert span.span_id == derived_span_id(TRACE, str(call_id))
    calls = [e for e in log.events if isinstance(e.data, ModelCalled)]
    chat_spans = [s for s in spans if s.name == "chat gpt-b"]
    assert [s.span_id for s in chat_spans] == [e.span_id for e in calls]
    assert {s.parent_span_id for s in chat_spans} == {ROOT}


def test_times_come_from_the_events() -> None:
    log = every_event_type()
    spans = by_name(spans_for_run(log.events))
    events = log.events

    root = spans["invoke_agent refunds"]
    finished = next(e for e in events if e.type == "run_finished")
    assert (root.start, root.end) == (events[0].ts, finished.ts)
    chat = spans["chat gpt-b"]
    assert chat.end == events[5].ts
    assert chat.start == pytest.approx(events[5].ts - 0.0005)  # latency_ms=0.5
    lookup = spans["execute_tool crm.lookup"]
    assert (lookup.start, lookup.end) == (events[6].ts, events[9].ts)


def test_usage_decisions_and_outcome_attributes() -> None:
    spans = by_name(spans_for_run(every_event_type().events))

    chat = spans["chat gpt-b'"].attributes  # turn 2
    assert chat["gen_ai.usage.input_tokens"] == 200
    assert chat["gen_ai.usage.output_tokens"] == 20
    assert chat["gen_ai.usage.cache_read.input_tokens"] == 2
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["gen_ai.conversation.id"] == "run_t"
    assert chat["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert chat["proctor.cost_usd"] == pytest.approx(0.002)
    root = spans["invoke_agent refunds"].attributes
    assert root["gen_ai.agent.name"] == "refunds"
    assert root["gen_ai.provider.name"] == "proctor.scripted"
    assert (root["gen_ai.usage.input_tokens"], root["gen_ai.usage.output_tokens"]) == (730, 85)
    assert root["proctor.outcome"] == "draft_only"
    assert root["proctor.contract.hash"] == "c0ffee"
    assert root["proctor.contract.version"] == root["gen_ai.agent.version"] == "3"
    assert root["proctor.cost_usd"] == pytest.approx(0.006)
    assert "gen_ai.system" not in root  # deprecated: gen_ai.provider.name says it
    assert "gen_ai.system" not in chat
    assert spans["invoke_agent refunds"].error is None  # a draft is what was asked for

    forbidden = spans["execute_tool wire.send"]
    assert forbidden.error == "because contract.forbidden_tool"
    assert forbidden.attributes["error.type"] == "policy_denied"
    assert forbidden.attributes["proctor.rule"] == "contract.forbidden_tool"
    (decision,) = forbidden.events
    assert decision.attributes == {
        "proctor.decision": "deny",
        "proctor.rule": "contract.forbidden_tool",
        "proctor.reason": "because contract.forbidden_tool",
    }
    refused = spans["execute_tool billing.pay"]
    assert refused.attributes["error.type"] == "CredentialDenied"  # its tool_finished settled it
    assert refused.error == "CredentialDenied"  # the message is content: not captured
    assert refused.attributes["proctor.idempotency_key"] == "run_t:1"
    assert spans["execute_tool billing.pay'"].attributes["proctor.drafted"] is True
    unsettled = spans["execute_tool crm.lookup'"]
    assert unsettled.attributes["proctor.tool.unsettled"] is True
    assert unsettled.end == spans["invoke_agent refunds"].end
    approval = refused.events[3].attributes
    assert approval["proctor.approval.decided_by"] == "bob"
    assert approval["proctor.approval.approved"] is True


def all_attributes(spans: list[SpanData]) -> set[str]:
    keys = {key for span in spans for key in span.attributes}
    return keys | {key for span in spans for event in span.events for key in event.attributes}


def test_no_content_unless_captured() -> None:
    log = every_event_type()

    plain = spans_for_run(log.events)
    captured = spans_for_run(log.events, capture_content=True)

    assert not all_attributes(plain) & CONTENT_ATTRIBUTES
    assert all_attributes(captured) >= CONTENT_ATTRIBUTES
    spans = by_name(captured)
    root = spans["invoke_agent refunds"].attributes
    assert root["gen_ai.input.messages"] == (
        '[{"role":"user","parts":[{"type":"text","content":"{\\"customer\\":'
        '\\"[email:redacted]\\"}"}]}]'
    )
    assert root["gen_ai.system_instructions"] == '[{"type":"text","content":"Refund carefully."}]'
    assert "Drafted." in str(root["gen_ai.output.messages"])
    lookup = spans["execute_tool crm.lookup"].attributes
    assert lookup["gen_ai.tool.call.arguments"] == '{"a":1}'
    assert lookup["gen_ai.tool.call.result"] == '{"x":1}'
    assert spans["execute_tool billing.pay"].error == "not covered"


def test_a_purged_event_exports_no_content_even_when_captured() -> None:
    log = Log()
    log.add(started(), purged=True)
    log.add(called(1, text="hello"), purged=True)
    log.add(
        RunFinished(outcome="resolved", reason="done", totals=Totals(), final_text="hello"),
        purged=True,
    )

    assert not all_attributes(spans_for_run(log.events, capture_content=True)) & (
        CONTENT_ATTRIBUTES
    )


def test_spans_are_handed_back_as_their_closing_events_arrive() -> None:
    log = every_event_type()
    fold = RunSpans()
    names: list[list[str]] = [[s.name for s in fold.feed([event])] for event in log.events]

    assert names[5] == ["chat gpt-b"]  # a model call is a finished span at once
    assert names[6:9] == [[], [], []]  # the lookup is open until its result
    assert names[9] == ["execute_tool crm.lookup"]
    assert names[13] == ["chat scripted:checker"]
    assert names[20] == ["execute_tool billing.pay"]  # settled by tool_finished, not the deny
    assert names[22] == ["execute_tool wire.send"]  # denied before it started
    assert names[-2] == ["execute_tool crm.lookup", "invoke_agent refunds"]  # run_finished
    assert names[-1] == []  # a later purge adds no span
    assert fold.last_seq == len(log.events) - 1


def test_a_run_that_has_not_finished_has_no_root_span_yet() -> None:
    log = every_event_type()
    spans = spans_for_run(log.events[:12])

    assert [s.name for s in spans] == ["chat gpt-b", "execute_tool crm.lookup"]


def test_folding_silently_then_on_sends_only_what_ends_later() -> None:
    log = every_event_type()
    fold = RunSpans()
    assert fold.feed(log.events[:15], emit=False) == []

    later = fold.feed(log.events[15:])

    everything = spans_for_run(log.events)
    assert [s.span_id for s in later] == [
        s.span_id for s in everything if s.end > log.events[14].ts
    ]
    assert len(later) == len(everything) - 3  # the first model call, the lookup, the checker


def test_ids_that_are_not_hex_are_derived_stably() -> None:
    assert trace_id_of(TRACE) == TRACE
    assert trace_id_of("t" * 32) == trace_id_of("t" * 32) != "t" * 32
    assert len(trace_id_of("t" * 32)) == 32
    assert span_id_of(TRACE, ROOT) == ROOT
    assert span_id_of(TRACE, "root") == derived_span_id(TRACE, "root")
    assert span_id_of(TRACE, "0" * 16) != "0" * 16
    assert derived_span_id(TRACE, "call_1") != derived_span_id(TRACE, "call_2")
    assert derived_span_id(TRACE, "call_1") != derived_span_id("1" * 32, "call_1")


def test_the_gateway_events_before_a_checker_verdict_are_its_chat_spans() -> None:
    log = Log()
    log.add(started())
    log.add(called(1, ("c1", "billing.pay")))
    log.add(proposed("c1", "billing.pay", 0), span_id="c1")
    log.add(
        ModelAttemptFailed(
            deployment="a", model="gpt-a", attempt=1, kind="server", action="fallback"
        )
    )
    log.add(
        CheckerDecided(
            approval_id="ap1",
            call_id="c1",
            model="gpt-b",
            approved=False,
            valid=True,
            reason="no",
            latency_ms=3.0,
        ),
        span_id="c1",
    )

    spans = by_name(RunSpans().feed(log.events))

    checker = spans["chat gpt-b'"]
    assert checker.attributes["proctor.checker"] is True
    assert checker.attributes["gen_ai.request.model"] == "gpt-a"
    assert event_names(checker) == ["proctor.model_attempt_failed"]


@pytest.mark.parametrize("outcome", ["escalated", "failed"])
def test_a_run_that_did_not_do_its_task_ends_in_error(outcome: Outcome) -> None:
    log = Log()
    log.add(started())
    totals = Totals(tool_calls=0, model_calls=0, input_tokens=0, output_tokens=0)
    log.add(RunFinished(outcome=outcome, reason="the contract forbids it", totals=totals))
    [root] = spans_for_run(log.events)
    assert root.error == "the contract forbids it"
    assert root.attributes["error.type"] == outcome
