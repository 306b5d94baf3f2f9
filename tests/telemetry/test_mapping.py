"""The mapping from events to spans, over every event type, without any exporter."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import (
    EVENT_TYPES,
    AnswerRefused,
    CheckerDecided,
    ModelAttemptFailed,
    ModelCalled,
    Outcome,
    RunFinished,
    SQLiteStore,
    Totals,
    row_to_event,
)
from proctor.telemetry import CONTENT_ATTRIBUTES, RunSpans, SpanData, spans_for_run
from proctor.telemetry._spans import derived_span_id, span_id_of, trace_id_of
from support.run_log import (
    ROOT,
    TRACE,
    Log,
    called,
    decided,
    every_event_type,
    proposed,
    started,
)


def by_name(spans: list[SpanData]) -> dict[str, SpanData]:
    named: dict[str, SpanData] = {}
    for span in spans:
        key = span.name
        while key in named:
            key += "'"
        named[key] = span
    return named


def without_guardrails(spans: list[SpanData]) -> list[SpanData]:
    return [s for s in spans if not s.name.startswith("run_guardrail ")]


def event_names(span: SpanData) -> list[str]:
    return [e.name for e in span.events]


def test_the_log_above_records_every_event_type() -> None:
    recorded = {event.type for event in every_event_type().events}
    assert recorded == {t.model_fields["type"].default for t in EVENT_TYPES}


def test_every_event_type_becomes_a_span_or_a_span_event() -> None:
    log = every_event_type()
    spans = by_name(without_guardrails(spans_for_run(log.events)))

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
        "proctor.run_interrupted",
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
    names: list[list[str]] = [
        [s.name for s in without_guardrails(fold.feed([event]))] for event in log.events
    ]

    assert names[5] == ["chat gpt-b"]  # a model call is a finished span at once
    assert names[6:9] == [[], [], []]  # the lookup is open until its result
    assert names[9] == ["execute_tool crm.lookup"]
    assert names[13] == ["chat scripted:checker"]
    assert names[21] == ["execute_tool billing.pay"]  # settled by tool_finished, not the deny
    assert names[23] == ["execute_tool wire.send"]  # denied before it started
    assert names[-2] == ["execute_tool crm.lookup", "invoke_agent refunds"]  # run_finished
    assert names[-1] == []  # a later purge adds no span
    assert fold.last_seq == len(log.events) - 1


def test_a_run_that_has_not_finished_has_no_root_span_yet() -> None:
    log = every_event_type()
    spans = spans_for_run(log.events[:12])

    assert [s.name for s in without_guardrails(spans)] == ["chat gpt-b", "execute_tool crm.lookup"]
    # The policy's decisions on the lookup and on the payment, each a finished span.
    assert [s.name for s in spans].count("run_guardrail proctor.policy") == 2


def test_folding_silently_then_on_sends_only_what_ends_later() -> None:
    log = every_event_type()
    fold = RunSpans()
    assert fold.feed(log.events[:15], emit=False) == []

    later = fold.feed(log.events[15:])

    everything = spans_for_run(log.events)
    assert [s.span_id for s in later] == [
        s.span_id for s in everything if s.end > log.events[14].ts
    ]
    # The first model call, the lookup and its policy decision, the checker, the first
    # decision on the payment.
    assert len(later) == len(everything) - 5


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


def test_what_backends_read_for_agents_tools_calls_and_cost() -> None:
    spans = by_name(spans_for_run(every_event_type().events))

    root = spans["invoke_agent refunds"].attributes
    assert root["gen_ai.agent.description"] == "Refunds within the refund policy."
    assert "gen_ai.usage.cost" not in root  # a trace's total would be counted twice
    assert spans["execute_tool crm.lookup"].attributes["gen_ai.tool.description"] == (
        "Find a customer."
    )
    assert "gen_ai.tool.description" not in spans["execute_tool wire.send"].attributes
    chat = spans["chat gpt-b'"].attributes  # turn 2
    assert chat["gen_ai.response.id"] == "chatcmpl-2"
    assert (chat["gen_ai.request.max_tokens"], chat["gen_ai.request.temperature"]) == (512, 0.2)
    assert chat["gen_ai.usage.cache_creation.input_tokens"] == 6
    assert chat["gen_ai.usage.reasoning.output_tokens"] == 8
    assert chat["llm.token_count.completion_details.reasoning"] == 8  # Phoenix prices these
    # The cost under the names Langfuse and OpenInference read; Phoenix prices by model.
    assert chat["gen_ai.usage.cost"] == chat["llm.cost.total"] == pytest.approx(0.002)
    assert chat["llm.model_name"] == "gpt-b"
    fell_back = spans["chat gpt-b"].attributes
    assert fell_back["gen_ai.request.model"] == "gpt-a"
    assert fell_back["llm.model_name"] == "gpt-b"  # priced as the model that answered


def test_a_model_spec_is_priced_by_its_model_name() -> None:
    log = Log()
    log.add(started(model="anthropic:claude-haiku-4-5"))
    log.add(called(1, model="anthropic:claude-haiku-4-5"))
    log.add(called(2, model="llama3:8b"))
    chats = [s for s in spans_for_run(log.events) if s.name.startswith("chat ")]
    assert [s.attributes["llm.model_name"] for s in chats] == ["claude-haiku-4-5", "llama3:8b"]
    assert chats[0].attributes["gen_ai.provider.name"] == "anthropic"


def test_the_conversation_is_the_runs_session_else_the_run() -> None:
    log = every_event_type()
    alone = by_name(spans_for_run(log.events))
    assert alone["invoke_agent refunds"].attributes["gen_ai.conversation.id"] == "run_t"


async def test_a_run_started_in_a_session_exports_it_as_the_conversation(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    try:
        runner = Runner(store, invoice.workflow())
        result = await runner.start(invoice.sample_input("clean"), session="conv-7")
        events = [row_to_event(row) for row in await store.events(result.state.run_id)]
        # From the log alone (the run_started data holds the session), and with the record.
        for run in (None, await store.get_run(result.state.run_id)):
            spans = spans_for_run(events, run=run)
            ids = {s.attributes.get("gen_ai.conversation.id") for s in spans}
            assert ids == {"conv-7", None}  # every chat, guardrail and run span; tools none
            root = next(s for s in spans if s.name.startswith("invoke_agent "))
            assert root.attributes["session.id"] == "conv-7"  # Langfuse's session
    finally:
        await store.close()


def test_policy_decisions_are_guardrail_runs() -> None:
    log = Log()
    log.add(started())
    log.add(called(1, ("c1", "crm.lookup"), ("c2", "wire.send")))
    log.add(proposed("c1", "crm.lookup", 0), span_id="c1")
    allowed = log.add(decided("c1", "crm.lookup", "allow", "default.allow"), span_id="c1")
    log.add(proposed("c2", "wire.send", 1), span_id="c2")
    log.add(decided("c2", "wire.send", "require_approval", "approval.wire"), span_id="c2")
    log.add(decided("c2", "wire.send", "deny", "contract.forbidden_tool"), span_id="c2")
    log.add(AnswerRefused(rule="final.no_links", reason="no links from what was read"))

    spans = spans_for_run(log.events)
    guards = [s for s in spans if s.name == "run_guardrail proctor.policy"]
    lookup, wire = derived_span_id(TRACE, "c1"), derived_span_id(TRACE, "c2")
    assert [g.parent_span_id for g in guards] == [lookup, wire, wire, ROOT]
    assert all(g.kind == "internal" and g.error is None for g in guards)
    assert guards[0].start == guards[0].end == allowed.ts  # an instant, when it was decided
    assert guards[0].attributes == {
        "gen_ai.operation.name": "run_guardrail",
        "gen_ai.guardrail.component.name": "proctor.policy",
        "gen_ai.guardrail.security.policy.id": "refunds",
        "gen_ai.guardrail.security.policy.rule.id": "default.allow",
        "gen_ai.conversation.id": "run_t",
        "gen_ai.guardrail.target.type": "input",
        "gen_ai.guardrail.target.subtype": "tool_call",
        "gen_ai.guardrail.target.id": "c1",
        "gen_ai.guardrail.verdict.type": "allow",
        "gen_ai.guardrail.action.type": "allow",
    }
    verdicts = [
        (
            g.attributes["gen_ai.guardrail.verdict.type"],
            g.attributes["gen_ai.guardrail.action.type"],
            g.attributes.get("gen_ai.guardrail.verdict.reason"),
            g.attributes["gen_ai.guardrail.target.type"],
        )
        for g in guards[1:]
    ]
    assert verdicts == [
        ("escalate", "escalate", "because approval.wire", "input"),
        ("deny", "block", "because contract.forbidden_tool", "input"),
        ("deny", "block", "no links from what was read", "output"),
    ]
    assert len({g.span_id for g in guards}) == 4
    assert [g.span_id for g in guards] == [g.span_id for g in spans_for_run(log.events)
                                           if g.name.startswith("run_guardrail")]  # fmt: skip
