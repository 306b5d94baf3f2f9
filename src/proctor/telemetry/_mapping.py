"""From a run's events to spans that follow the OpenTelemetry GenAI conventions.

``RunSpans`` folds events in log order and hands back each span when its closing event
arrives, so one fold serves both exports: live (a batch of events at a time, as the
runtime writes them) and batch (a finished run's whole log at once).

- ``invoke_agent {workflow}``: the run, from ``run_started`` to ``run_finished``. It is
  one span however often the run pauses for approval or resumes, so it is emitted at the
  finish. Events that are not about one call (limits, escalations, routing, resumes,
  compaction) are its span events.
- ``chat {model}``: one per ``model_called``, and one per checker verdict (a child of the
  call the checker judged); emitted at once. Failed attempts, rate-limit waits and a
  response cache hit recorded before a model call (or a verdict) are its span events.
- ``execute_tool {tool}``: one per proposed call, from ``tool_proposed`` to the event that
  settles it (``tool_finished``, a denial, a draft, or the run's end); its policy
  decisions, approvals, credentials and attempts are its span events.
- ``run_guardrail proctor.policy``: one per policy decision (a child of the call's span)
  and per refused final answer (a child of the run's), the GenAI conventions' guardrail
  run; an instant, at the decision's time.

Content is added only with ``capture_content``, and only as the store holds it: redacted,
and absent once retention purged it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from proctor.store import (
    AnswerRefused,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    CacheHit,
    CheckerDecided,
    ContextCompacted,
    CredentialIssued,
    DraftRecorded,
    Escalated,
    Event,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    PolicyDecided,
    Purged,
    RateLimited,
    RunFinished,
    RunInterrupted,
    RunRecord,
    RunResumed,
    RunStarted,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Usage,
    ValuesSeen,
)
from proctor.telemetry._attributes import (
    ERROR_OUTCOMES,
    GUARDRAIL,
    OP,
    call_cost,
    chat_attributes,
    conversation_id,
    finish_attributes,
    guardrail_attributes,
    model_call_attributes,
    run_attributes,
    span_event,
    to_json,
    tool_attributes,
)
from proctor.telemetry._spans import SpanData, SpanEvent, derived_span_id, span_id_of, trace_id_of


class RunSpans:
    """The spans of one run, folded from its events in order."""

    def __init__(self, *, capture_content: bool = False, run: RunRecord | None = None) -> None:
        """``run`` is the run's record, if at hand: its session names the conversation."""
        self.capture_content = capture_content
        self.run = run
        self.last_seq = -1
        """The sequence number of the last event folded."""
        self.root: SpanData | None = None
        self.trace_id = ""
        self.run_id = ""
        self.conversation = ""
        """``gen_ai.conversation.id``: the run's session, else its id."""
        self.policy = ""
        """The contract whose policy decides (the guardrail spans' policy id)."""
        self.tools: dict[str, str] = {}
        """Tool descriptions by name, as ``run_started`` recorded them."""
        self.route = ""
        self.calls: dict[str, SpanData] = {}
        """Open ``execute_tool`` spans, by call id."""
        self.started: set[str] = set()
        self.pending: list[SpanEvent] = []
        """Gateway events waiting for the model call they belong to."""
        self.first_model: str | None = None
        self._out: list[SpanData] = []

    def feed(self, events: Iterable[Event], *, emit: bool = True) -> list[SpanData]:
        """Fold ``events``; returns the spans they finished (none unless ``emit``)."""
        self._out = []
        for event in events:
            self.last_seq = event.seq
            self._apply(event)
        done, self._out = self._out, []
        return done if emit else []

    # --- spans ---------------------------------------------------------------------

    def _root(self, event: Event) -> SpanData:
        if self.root is None:  # a log that does not start with run_started
            self.trace_id = trace_id_of(event.trace_id)
            self.run_id = event.run_id
            self.conversation = conversation_id(event.run_id, self.run)
            self.root = SpanData(
                name="invoke_agent",
                trace_id=self.trace_id,
                span_id=span_id_of(self.trace_id, event.parent_span_id or event.span_id),
                parent_span_id=None,
                kind="internal",
                start=event.ts,
                end=0.0,
                attributes={OP: "invoke_agent", "proctor.run.id": event.run_id},
            )
        return self.root

    def _call(self, call_id: str, tool: str, event: Event) -> SpanData:
        span = self.calls.get(call_id)
        if span is None:  # the proposal is not in this log (or the call was settled)
            span = SpanData(
                name=f"execute_tool {tool}".rstrip(),
                trace_id=self.trace_id,
                span_id=derived_span_id(self.trace_id, call_id),
                parent_span_id=self._root(event).span_id,
                kind="internal",
                start=event.ts,
                end=0.0,
                attributes=tool_attributes(call_id, tool, self.tools.get(tool)),
            )
            self.calls[call_id] = span
        return span

    def _close(self, call_id: str, ts: float) -> None:
        span = self.calls.pop(call_id, None)
        self.started.discard(call_id)
        if span is not None:
            span.end = ts
            self._out.append(span)

    def _chat(
        self, event: Event, model: str, latency_ms: float, tokens: Usage, ids: tuple[str, str]
    ) -> SpanData:
        span = SpanData(
            name=f"chat {model}",
            trace_id=self.trace_id,
            span_id=ids[0],
            parent_span_id=ids[1],
            kind="client",
            start=event.ts - latency_ms / 1000,
            end=event.ts,
            attributes=chat_attributes(self.conversation, model, tokens),
        )
        self._out.append(span)
        return span

    def _guardrail(self, event: Event, data: PolicyDecided | AnswerRefused, parent: str) -> None:
        """The guardrail run a decision records: an instant span under ``parent``."""
        attrs = guardrail_attributes(data, policy=self.policy, conversation=self.conversation)
        self._out.append(
            SpanData(
                name=f"run_guardrail {GUARDRAIL}",
                trace_id=self.trace_id,
                span_id=derived_span_id(self.trace_id, f"guardrail/{event.seq}"),
                parent_span_id=parent,
                kind="internal",
                start=event.ts,
                end=event.ts,
                attributes=attrs,
            )
        )

    def _event(self, event: Event) -> SpanEvent:
        name, attrs = span_event(event.data, content=self._content(event))
        return SpanEvent(name=name, ts=event.ts, attributes=attrs)

    def _content(self, event: Event) -> bool:
        return self.capture_content and not event.purged

    # --- events --------------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        data = event.data
        gateway = isinstance(data, ModelAttemptFailed | RateLimited) or (
            isinstance(data, CacheHit) and data.kind == "response"
        )
        if self.pending and not gateway and not isinstance(data, ModelCalled | CheckerDecided):
            # The gateway gave up: its events belong to the run, not to a model call.
            self._root(event).events.extend(self.pending)
            self.pending, self.first_model = [], None
        match data:
            case RunStarted():
                self.trace_id = trace_id_of(event.trace_id)
                self.run_id, self.route = event.run_id, data.model
                self.conversation = conversation_id(event.run_id, data, self.run)
                self.policy, self.tools = data.contract_name, data.tool_descriptions
                self.root = SpanData(
                    name=f"invoke_agent {data.workflow}",
                    trace_id=self.trace_id,
                    span_id=span_id_of(self.trace_id, event.span_id),
                    parent_span_id=None,
                    kind="internal",
                    start=event.ts,
                    end=0.0,
                    attributes=run_attributes(
                        event.run_id,
                        data,
                        conversation=self.conversation,
                        content=self._content(event),
                    ),
                )
            case ModelCalled():
                self._model_called(event, data)
            case ToolProposed():
                span = self._call(data.call_id, data.tool, event)
                span.attributes["proctor.step"] = data.step
                span.attributes["proctor.tool.args_digest"] = data.args_digest
                if self._content(event):
                    raw = data.raw_arguments
                    args = raw if raw is not None else to_json(data.arguments)
                    span.attributes["gen_ai.tool.call.arguments"] = args
            case PolicyDecided():
                span = self._call(data.call_id, data.tool, event)
                span.events.append(self._event(event))
                span.attributes["proctor.decision"] = data.decision
                span.attributes["proctor.rule"] = data.rule
                self._guardrail(event, data, span.span_id)
                if data.decision == "deny":
                    span.error = data.reason
                    span.attributes["error.type"] = "policy_denied"
                    if data.call_id not in self.started:  # else its tool_finished settles it
                        self._close(data.call_id, event.ts)
            case CheckerDecided():
                self._checker(event, data)
            case ToolStarted():
                span = self._call(data.call_id, data.tool, event)
                span.events.append(self._event(event))
                span.attributes["proctor.idempotency_key"] = data.idempotency_key
                span.attributes["proctor.attempts"] = data.attempt
                self.started.add(data.call_id)
            case ToolFinished():
                self._tool_finished(event, data)
            case DraftRecorded():
                span = self._call(data.call_id, data.tool, event)
                span.events.append(self._event(event))
                span.attributes["proctor.drafted"] = True
                self._close(data.call_id, event.ts)
            case RunFinished():
                self._finished(event, data)
            case ModelAttemptFailed() | RateLimited():
                if isinstance(data, ModelAttemptFailed) and self.first_model is None:
                    self.first_model = data.model
                self.pending.append(self._event(event))
            case CacheHit() if data.kind == "response":
                self.pending.append(self._event(event))
            case CacheHit():  # a tool result: the event's span id is the call's id
                self._call(event.span_id, data.name, event).events.append(self._event(event))
            case (
                RunResumed()
                | RunInterrupted()
                | LimitReached()
                | Escalated()
                | ModelRouted()
                | ContextCompacted()
                | AnswerRefused()
                | ValuesSeen()
                | Purged()
            ):
                if isinstance(data, ModelRouted):
                    self.route = data.to_route
                self._root(event).events.append(self._event(event))
                if isinstance(data, AnswerRefused):
                    self._guardrail(event, data, self._root(event).span_id)
            case ApprovalRequested() | CredentialIssued():
                self._call(data.call_id, data.tool, event).events.append(self._event(event))
            case ApprovalDecided() | ApprovalExpired():
                self._call(data.call_id, "", event).events.append(self._event(event))
            case _:
                assert_never(data)

    def _model_called(self, event: Event, data: ModelCalled) -> None:
        ids = (span_id_of(self.trace_id, event.span_id), self._root(event).span_id)
        span = self._chat(event, data.model, data.latency_ms, data.usage, ids)
        content = self._content(event)
        span.attributes.update(model_call_attributes(data, self.route, content=content))
        self._take_pending(span)

    def _checker(self, event: Event, data: CheckerDecided) -> None:
        call = self._call(data.call_id, "", event)
        call.events.append(self._event(event))
        ids = (derived_span_id(self.trace_id, f"checker/{data.approval_id}"), call.span_id)
        span = self._chat(event, data.model, data.latency_ms, data.usage, ids)
        span.attributes["proctor.checker"] = True
        span.attributes.update(call_cost(data.cost_usd))
        self._take_pending(span)

    def _take_pending(self, span: SpanData) -> None:
        """The gateway's events before a model call belong to that call's span."""
        if self.first_model is not None:  # the gateway fell back from another model
            span.attributes["gen_ai.request.model"] = self.first_model
        span.events.extend(self.pending)
        self.pending, self.first_model = [], None

    def _tool_finished(self, event: Event, data: ToolFinished) -> None:
        span = self._call(data.call_id, data.tool, event)
        attrs = span.attributes
        attrs["proctor.tool.ok"] = data.ok
        attrs["proctor.tool.latency_ms"] = data.latency_ms
        content = self._content(event)
        if not data.ok:
            error_type = data.error_type or "_OTHER"
            attrs["error.type"] = error_type
            span.error = data.error if content and data.error else error_type
        elif content:
            attrs["gen_ai.tool.call.result"] = to_json(data.result)
        self._close(data.call_id, event.ts)

    def _finished(self, event: Event, data: RunFinished) -> None:
        root = self._root(event)
        for call_id in list(self.calls):  # proposed, but the run ended before settling it
            self.calls[call_id].attributes["proctor.tool.unsettled"] = True
            self._close(call_id, event.ts)
        root.attributes.update(finish_attributes(data, content=self._content(event)))
        if data.outcome in ERROR_OUTCOMES:
            root.error = data.reason
        root.end = event.ts
        self._out.append(root)


def spans_for_run(
    events: Iterable[Event], *, capture_content: bool = False, run: RunRecord | None = None
) -> list[SpanData]:
    """Every span of a run's log (its ``invoke_agent`` span only if the run finished);
    ``run`` is its record, if at hand."""
    return RunSpans(capture_content=capture_content, run=run).feed(events)
