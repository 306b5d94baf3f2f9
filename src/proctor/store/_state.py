"""``RunState``: a fold over a run's events.

The runtime keeps one up to date by applying each event it appends; resume builds
the same state by applying the stored events in order. Policy reads it to decide.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from proctor.store._events import (
    AnswerRefused,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    CheckerDecided,
    ContextCompacted,
    DraftRecorded,
    Escalated,
    Event,
    EventData,
    LimitReached,
    ModelCalled,
    ModelRouted,
    Outcome,
    PolicyDecided,
    RecordedToolCall,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
)

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]


@dataclass(kw_only=True)
class CallState:
    """What happened so far to one tool call the model proposed."""

    call: RecordedToolCall
    step: int | None = None
    args_digest: str | None = None
    decision: str | None = None
    rule: str | None = None
    reason: str | None = None
    approval_id: str | None = None
    approval: ApprovalStatus | None = None
    approver: str = "human"
    approval_expires_at: float | None = None
    decided_by: str | None = None
    decided_reason: str = ""
    checker_approved: bool | None = None
    """The checker's verdict, once it gave one (``checker_then_human``: a person is next)."""
    attempts: int = 0
    finished: bool = False
    ok: bool = False
    drafted: bool = False

    @property
    def done(self) -> bool:
        """No further action will be taken on this call."""
        return self.finished or self.drafted or self.decision == "deny"


@dataclass(kw_only=True)
class RunState:
    """Everything policy and the loop need to know about a run, folded from its log."""

    run_id: str = ""
    workflow: str = ""
    model: str = ""
    contract_hash: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    status: RunStatus = "running"
    outcome: Outcome | None = None
    started_ts: float = 0.0
    last_ts: float = 0.0
    paused_s: float = 0.0
    paused_since: float | None = None
    draft_only: bool = False
    last_seq: int = -1
    head_hash: str = ""

    tool_calls: int = 0
    executed_calls: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True

    calls: dict[str, CallState] = field(default_factory=dict)
    turn_calls: list[str] = field(default_factory=list)
    succeeded: Counter[str] = field(default_factory=Counter)
    pending_approval: str | None = None
    escalations: list[Escalated] = field(default_factory=list)
    limits_hit: list[LimitReached] = field(default_factory=list)
    final_text: str | None = None
    last_text: str | None = None
    finish_reason: str | None = None
    route: str | None = None
    """The route the run's model turns go to (set by ``model_routed``)."""
    invalid_streak: int = 0
    """Invalid tool calls in a row (an escalation trigger)."""
    denied_since_turn: bool = False
    """A call of the latest turn was denied by policy (an escalation trigger)."""
    answered: bool = False
    """The latest model turn proposed no tool calls: the run can finish."""

    @classmethod
    def from_events(cls, events: list[Event]) -> RunState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def active_seconds(self, now: float) -> float:
        """Time the run has been working, not counting waits for approval."""
        paused_now = 0.0 if self.paused_since is None else now - self.paused_since
        waiting = self.paused_s + paused_now
        return max(0.0, now - self.started_ts - waiting)

    def next_call(self) -> CallState | None:
        """The first call of the latest model turn that still needs handling."""
        for call_id in self.turn_calls:
            call = self.calls[call_id]
            if not call.done:
                return call
        return None

    def totals(self, now: float) -> Totals:
        return Totals(
            tool_calls=self.tool_calls,
            model_calls=self.model_calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=round(self.cost_usd, 8) if self.cost_known else None,
            duration_s=round(self.active_seconds(now), 4),
        )

    def _purged_call(self, data: ToolProposed) -> CallState:
        # Retention purged the model turn that proposed this call (its tool_calls are
        # content); the proposal's own metadata still names the call.
        call = CallState(call=RecordedToolCall(id=data.call_id, name=data.tool))
        self.calls[data.call_id] = call
        return call

    def apply(self, event: Event) -> None:
        """Fold one event into the state."""
        previous_ts = self.last_ts
        self.last_seq = event.seq
        self.head_hash = event.hash
        self.last_ts = event.ts
        self._apply_data(event.data, event, previous_ts)

    def _apply_data(self, data: EventData, event: Event, previous_ts: float) -> None:
        match data:
            case RunStarted():
                self.run_id = event.run_id
                self.workflow = data.workflow
                self.model = data.model
                self.contract_hash = data.contract_hash
                self.input = data.input
                self.started_ts = event.ts
            case RunResumed():
                if self.paused_since is None and self.status == "running":
                    # Time the process was dead is not the run's working time.
                    self.paused_s += max(0.0, event.ts - previous_ts)
            case ModelCalled():
                self.model_calls += 1
                self.input_tokens += data.usage.input_tokens
                self.output_tokens += data.usage.output_tokens
                if data.cost_usd is None:
                    self.cost_known = False
                else:
                    self.cost_usd += data.cost_usd
                self.turn_calls = []
                for proposed in data.tool_calls:
                    self.calls[proposed.id] = CallState(call=proposed)
                    self.turn_calls.append(proposed.id)
                self.answered = not data.tool_calls
                self.last_text = data.text
                self.denied_since_turn = False
                if self.answered:
                    self.final_text = data.text
            case ToolProposed():
                call = self.calls.get(data.call_id) or self._purged_call(data)
                call.step = data.step
                call.args_digest = data.args_digest
                self.tool_calls += 1
            case PolicyDecided():
                call = self.calls[data.call_id]
                call.decision, call.rule, call.reason = data.decision, data.rule, data.reason
                if data.invalid_arguments:
                    self.invalid_streak += 1
                else:
                    self.invalid_streak = 0
                    if data.decision == "deny":
                        self.denied_since_turn = True
            case ApprovalRequested():
                call = self.calls[data.call_id]
                call.approval_id = data.approval_id
                call.approval = "pending"
                call.approver = data.by
                call.approval_expires_at = data.expires_at
                self.pending_approval = data.approval_id
                self.status = "awaiting_approval"
                self.paused_since = event.ts
            case CheckerDecided():
                self.input_tokens += data.usage.input_tokens
                self.output_tokens += data.usage.output_tokens
                if data.cost_usd is None:
                    self.cost_known = False
                else:
                    self.cost_usd += data.cost_usd
                self.calls[data.call_id].checker_approved = data.approved
            case ApprovalExpired():
                self.calls[data.call_id].approval = "expired"
                self.pending_approval = None
                self.status = "running"
                if self.paused_since is not None:
                    self.paused_s += event.ts - self.paused_since
                    self.paused_since = None
            case ApprovalDecided():
                call = self.calls[data.call_id]
                call.approval = "approved" if data.approved else "denied"
                call.decided_by = data.decided_by
                call.decided_reason = data.reason
                self.pending_approval = None
                self.status = "running"
                if self.paused_since is not None:
                    self.paused_s += event.ts - self.paused_since
                    self.paused_since = None
            case ToolStarted():
                self.calls[data.call_id].attempts += 1
                self.executed_calls += 1
            case ToolFinished():
                call = self.calls[data.call_id]
                call.finished = True
                call.ok = data.ok
                if data.ok:
                    self.succeeded[data.tool] += 1
            case DraftRecorded():
                self.calls[data.call_id].drafted = True
            case LimitReached():
                self.limits_hit.append(data)
            case Escalated():
                self.escalations.append(data)
                if data.mode == "draft_only":
                    self.draft_only = True
            case ModelRouted():
                self.route = data.to_route
            case ContextCompacted():
                if data.usage is not None:
                    self.input_tokens += data.usage.input_tokens
                    self.output_tokens += data.usage.output_tokens
                if data.cost_usd is not None:
                    self.cost_usd += data.cost_usd
                elif data.usage is not None:
                    self.cost_known = False
            case AnswerRefused():
                self.answered = False
                self.final_text = None
                self.denied_since_turn = True
            case RunFinished():
                self.status = "finished"
                self.outcome = data.outcome
                self.finish_reason = data.reason
