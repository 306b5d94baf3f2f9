"""A run's log written by hand, with every event type in it, for the telemetry tests."""

from __future__ import annotations

from typing import Any

from proctor.store import (
    AnswerRefused,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    CacheHit,
    CheckerDecided,
    ContextCompacted,
    CredentialIssued,
    DecisionKind,
    DraftRecorded,
    Escalated,
    Event,
    EventData,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    PolicyDecided,
    Purged,
    RateLimited,
    RecordedToolCall,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
    ValuesSeen,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT = "00f067aa0ba902b7"
T0 = 1_700_000_000.0


class Log:
    """A run's log built by hand: each event one millisecond after the last."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, data: EventData, *, span_id: str | None = None, purged: bool = False) -> Event:
        seq = len(self.events)
        event = Event(
            run_id="run_t",
            seq=seq,
            ts=T0 + seq / 1000,
            trace_id=TRACE,
            span_id=ROOT if seq == 0 else (span_id or f"{seq + 1:016x}"),
            parent_span_id=None if seq == 0 else ROOT,
            data=data,
            prev_hash="",
            hash="",
            purged=purged,
        )
        self.events.append(event)
        return event


def started(**changes: Any) -> RunStarted:
    fields: dict[str, Any] = {
        "workflow": "refunds",
        "model": "scripted:refund",
        "contract_name": "refunds",
        "contract_version": "3",
        "contract_hash": "c0ffee",
        "contract_description": "Refunds within the refund policy.",
        "tool_descriptions": {"crm.lookup": "Find a customer.", "billing.pay": "Pay a refund."},
        "started_by": "cli:alice",
        "input": {"customer": "[email:redacted]"},
        "instructions": "Refund carefully.",
    }
    return RunStarted(**{**fields, **changes})


def called(turn: int, *calls: tuple[str, str], model: str = "gpt-b", text: str = "") -> ModelCalled:
    return ModelCalled(
        model=model,
        turn=turn,
        messages_digest="d",
        usage=Usage(
            input_tokens=100 * turn,
            output_tokens=10 * turn,
            cached_input_tokens=turn,
            cache_write_tokens=3 * turn,
            reasoning_tokens=4 * turn,
        ),
        cost_usd=0.001 * turn,
        latency_ms=0.5,
        finish_reason="tool_calls" if calls else "stop",
        tool_call_count=len(calls),
        response_id=f"chatcmpl-{turn}",
        max_tokens=512,
        temperature=0.2,
        text=text or None,
        tool_calls=[RecordedToolCall(id=i, name=n, arguments={"n": i}) for i, n in calls],
    )


def proposed(call_id: str, tool: str, step: int) -> ToolProposed:
    return ToolProposed(
        call_id=call_id, step=step, tool=tool, args_digest=f"digest-{call_id}", arguments={"a": 1}
    )


def decided(call_id: str, tool: str, decision: DecisionKind, rule: str) -> PolicyDecided:
    return PolicyDecided(
        call_id=call_id, tool=tool, decision=decision, rule=rule, reason=f"because {rule}"
    )


def every_event_type() -> Log:
    """One run that records each event type at least once."""
    log = Log()
    log.add(started())
    log.add(ModelRouted(from_route="strong", to_route="cheap", trigger="budget", reason="cheaper"))
    log.add(RateLimited(scope="route:cheap", limit="rpm", waited_ms=12.5, outcome="waited"))
    log.add(
        ModelAttemptFailed(
            deployment="a",
            model="gpt-a",
            attempt=1,
            kind="server",
            action="fallback",
            status=503,
            next_deployment="b",
            error="upstream said 503",
        )
    )
    log.add(CacheHit(kind="response", name="cheap", key="k", tokens_saved=7, cost_saved_usd=0.01))
    log.add(called(1, ("c1", "crm.lookup"), ("c2", "billing.pay"), ("c3", "wire.send")))
    log.add(proposed("c1", "crm.lookup", 0), span_id="c1")
    log.add(decided("c1", "crm.lookup", "allow", "default.allow"), span_id="c1")
    log.add(CacheHit(kind="tool", name="crm.lookup", key="t"), span_id="c1")
    log.add(
        ToolFinished(call_id="c1", tool="crm.lookup", ok=True, latency_ms=0.1, result={"x": 1}),
        span_id="c1",
    )
    log.add(proposed("c2", "billing.pay", 1), span_id="c2")
    log.add(decided("c2", "billing.pay", "require_approval", "approval.pay"), span_id="c2")
    log.add(
        ApprovalRequested(
            approval_id="ap1",
            call_id="c2",
            tool="billing.pay",
            args_digest="d",
            rule="approval.pay",
            reason="big",
            by="checker_then_human",
        ),
        span_id="c2",
    )
    log.add(
        CheckerDecided(
            approval_id="ap1",
            call_id="c2",
            model="scripted:checker",
            approved=True,
            valid=True,
            reason="fine",
            usage=Usage(input_tokens=50, output_tokens=5),
            latency_ms=0.2,
        ),
        span_id="c2",
    )
    log.add(
        ApprovalDecided(
            approval_id="ap1", call_id="c2", approved=True, decided_by="bob", reason="checked"
        ),
        span_id="c2",
    )
    log.add(RunInterrupted(reason="the process driving the run was stopped", pid=41))
    log.add(RunResumed(reason="approved by bob", pid=42))
    log.add(decided("c2", "billing.pay", "allow", "approval.granted"), span_id="c2")
    log.add(
        CredentialIssued(
            call_id="c2",
            tool="billing.pay",
            jti="j1",
            actions=["payment.create"],
            issued_at=T0,
            expires_at=T0 + 60,
            resources=["vendor:V-1"],
        ),
        span_id="c2",
    )
    log.add(ToolStarted(call_id="c2", tool="billing.pay", idempotency_key="run_t:1"), span_id="c2")
    log.add(decided("c2", "billing.pay", "deny", "credential.denied"), span_id="c2")
    log.add(
        ToolFinished(
            call_id="c2",
            tool="billing.pay",
            ok=False,
            latency_ms=0.3,
            error_type="CredentialDenied",
            error="not covered",
        ),
        span_id="c2",
    )
    log.add(proposed("c3", "wire.send", 2), span_id="c3")
    log.add(decided("c3", "wire.send", "deny", "contract.forbidden_tool"), span_id="c3")
    log.add(Escalated(trigger="policy_violation", mode="draft_only", rule="r", reason="why"))
    log.add(AnswerRefused(rule="final.links", reason="no links from what was read"))
    log.add(ValuesSeen(source="email.read", untrusted=["0a1b2c3d4e5f6a7b"]))
    log.add(called(2, ("c4", "billing.pay")))
    log.add(proposed("c4", "billing.pay", 3), span_id="c4")
    log.add(decided("c4", "billing.pay", "allow", "default.allow"), span_id="c4")
    log.add(DraftRecorded(call_id="c4", tool="billing.pay", arguments={"a": 1}), span_id="c4")
    log.add(
        ContextCompacted(
            tokens_before=900,
            tokens_after=300,
            estimated=True,
            model="cheap",
            usage=Usage(input_tokens=80, output_tokens=20),
            cost_usd=0.0001,
            summary="earlier: looked up",
        )
    )
    log.add(called(3, ("c5", "billing.pay"), ("c6", "crm.lookup")))
    log.add(proposed("c5", "billing.pay", 4), span_id="c5")
    log.add(decided("c5", "billing.pay", "require_approval", "approval.pay"), span_id="c5")
    log.add(
        ApprovalRequested(
            approval_id="ap2",
            call_id="c5",
            tool="billing.pay",
            args_digest="d",
            rule="approval.pay",
            reason="big",
            expires_at=T0 + 5,
        ),
        span_id="c5",
    )
    log.add(ApprovalExpired(approval_id="ap2", call_id="c5", expired_at=T0 + 5), span_id="c5")
    log.add(decided("c5", "billing.pay", "deny", "approval.expired"), span_id="c5")
    log.add(proposed("c6", "crm.lookup", 5), span_id="c6")
    log.add(
        ModelAttemptFailed(
            deployment="b", model="gpt-b", attempt=1, kind="timeout", action="give_up"
        )
    )
    log.add(
        LimitReached(
            limit="max_cost_usd", value=1.5, ceiling=1.0, rule="limit.max_cost_usd", reason="$"
        )
    )
    log.add(
        RunFinished(
            outcome="draft_only",
            reason="drafted",
            totals=Totals(
                tool_calls=6, model_calls=3, input_tokens=730, output_tokens=85, cost_usd=0.006
            ),
            final_text="Drafted.",
        )
    )
    log.add(Purged(events=12, bytes=4096, reason="retention_days 30 passed"))
    return log
