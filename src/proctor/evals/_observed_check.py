"""What would the contract have refused? An observed trajectory judged call by call.

The trajectory is written as the log an unconstrained run would have left (every call
proposed, allowed and run, with its observed result; every turn with its usage and time)
and re-decided under the contract by ``redecide_events``, the check behind ``proctor
contract test``: each call is decided on the observed history before it, so every call
the contract would have denied or held for a person is found, not only the first (the
observed run, by contrast, stops where the contract would have stopped the agent). Before
each model turn the limits are checked as the loop checks them (model calls, runtime from
the trace's own times, tokens, cost when the model has a price); at the final answer,
the required steps and ``final`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from proctor.evals._redecide import redecide_events
from proctor.evals._traces import ObservedTrajectory
from proctor.gateway import PriceTable
from proctor.policy import Policy
from proctor.store import (
    Event,
    EventData,
    ModelCalled,
    PolicyDecided,
    RecordedToolCall,
    RunFinished,
    RunStarted,
    RunState,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    digest,
)

FindingKind = Literal["denied", "approval", "answer", "limit"]
OBSERVED_RULE = "observed.ran"
"""The rule of the synthetic decisions: the call ran, nothing decided it."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One thing the contract would have refused."""

    kind: FindingKind
    """``denied`` (a call), ``approval`` (a call held for a person), ``answer`` (the
    final answer refused: required steps missing, a final check), ``limit`` (a ceiling
    passed before a model turn)."""
    rule: str
    reason: str
    call: int | None = None
    """The call's number in the trajectory (from 1)."""
    tool: str | None = None
    arguments: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(kw_only=True)
class ObservedCheck:
    """What the contract would have refused in one trajectory."""

    trajectory: str
    source: str
    calls: int
    turns: int
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "trajectory": self.trajectory,
            "source": self.source,
            "calls": self.calls,
            "turns": self.turns,
            "findings": [f.to_json() for f in self.findings],
            "notes": self.notes,
        }


def observed_events(
    trajectory: ObservedTrajectory, policy: Policy, rename: Any, *, input_key: str = "prompt"
) -> list[Event]:
    """The log an unconstrained run of ``trajectory`` would have left (module docstring)."""
    contract = policy.contract
    run_id = "observed_" + digest(trajectory.id)[:12]
    clock = trajectory.started_at or 0.0
    events: list[Event] = []

    def add(data: EventData, at: float | None = None) -> None:
        nonlocal clock
        clock = max(clock, at or clock)
        events.append(
            Event(
                run_id=run_id,
                seq=len(events),
                ts=clock,
                trace_id=run_id,
                span_id=run_id,
                parent_span_id=None,
                data=data,
                prev_hash="",
                hash="",
            )
        )

    add(
        RunStarted(
            workflow=contract.workflow,
            model=trajectory.model or trajectory.source,
            contract_name=contract.workflow,
            contract_version=contract.version,
            contract_hash=contract.content_hash,
            started_by="observed",
            input=trajectory.run_input(input_key),
            instructions=trajectory.instructions,
        )
    )
    prices, step = PriceTable(), 0
    price = prices.price(trajectory.model) if trajectory.model else None
    for number, turn in enumerate(trajectory.turns, 1):
        calls = [
            RecordedToolCall(
                id=call.id,
                name=rename(call.tool),
                arguments=call.arguments,
                raw_arguments=call.raw_arguments,
            )
            for call in turn.calls
        ]
        add(
            ModelCalled(
                model=turn.model or trajectory.model or trajectory.source,
                turn=number,
                messages_digest="",
                usage=turn.usage,
                cost_usd=None if price is None else price.cost(turn.usage),
                latency_ms=0.0,
                finish_reason="tool_calls" if calls else "stop",
                tool_call_count=len(calls),
                text=turn.text,
                tool_calls=calls,
            ),
            turn.at,
        )
        for call in calls:
            step += 1
            add(
                ToolProposed(
                    call_id=call.id,
                    step=step,
                    tool=call.name,
                    args_digest=digest({"tool": call.name, "arguments": call.arguments}),
                    arguments=call.arguments,
                    raw_arguments=call.raw_arguments,
                )
            )
            add(
                PolicyDecided(
                    call_id=call.id,
                    tool=call.name,
                    decision="allow",
                    rule=OBSERVED_RULE,
                    reason="observed: the call ran",
                )
            )
            add(ToolStarted(call_id=call.id, tool=call.name, idempotency_key=f"{run_id}:{step}"))
            result = trajectory.results.get(call.id)
            add(
                ToolFinished(
                    call_id=call.id,
                    tool=call.name,
                    ok=result is None or result.ok,
                    latency_ms=0.0,
                    error_type=None if result is None else result.error_type,
                    result=None if result is None else result.result,
                    error=None if result is None else result.error,
                )
            )
    if trajectory.turns and not trajectory.turns[-1].calls:
        add(
            RunFinished(
                outcome="resolved",
                reason="observed: the agent answered",
                totals=Totals(),
                final_text=trajectory.turns[-1].text,
            ),
            trajectory.ended_at,
        )
    return events


def check_observed(
    trajectory: ObservedTrajectory, policy: Policy, rename: Any, *, input_key: str = "prompt"
) -> ObservedCheck:
    """What ``policy``'s contract would have refused in ``trajectory``."""
    events = observed_events(trajectory, policy, rename, input_key=input_key)
    check = ObservedCheck(
        trajectory=trajectory.id,
        source=trajectory.source,
        calls=len(trajectory.calls),
        turns=len(trajectory.turns),
        notes=list(trajectory.notes),
    )
    numbers = {
        event.data.call_id: event.data.step
        for event in events
        if isinstance(event.data, ToolProposed)
    }
    arguments = {
        event.data.call_id: event.data.arguments
        for event in events
        if isinstance(event.data, ToolProposed)
    }
    limits: dict[str, Finding] = {}
    state = RunState()
    for event in events:
        if isinstance(event.data, ModelCalled):
            over = policy.check_limits(state, now=event.ts)
            if over is not None and over.rule not in limits:
                limits[over.rule] = Finding(kind="limit", rule=over.rule, reason=over.reason)
        state.apply(event)
    changes = redecide_events(events, policy)
    for change in changes.changes:
        if change.candidate.kind == "allow":
            continue
        if change.subject == "answer":
            check.findings.append(
                Finding(
                    kind="answer", rule=change.candidate.rule or "", reason=change.candidate.reason
                )
            )
            continue
        call_id = change.call_id or ""
        check.findings.append(
            Finding(
                kind="denied" if change.candidate.kind == "deny" else "approval",
                rule=change.candidate.rule or "",
                reason=change.candidate.reason,
                call=numbers.get(call_id),
                tool=change.tool,
                arguments=arguments.get(call_id),
            )
        )
    check.findings += limits.values()
    check.notes += changes.notes
    return check
