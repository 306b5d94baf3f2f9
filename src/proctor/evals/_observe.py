"""What a replayed run did, read from its log: calls, rules fired, outcome, figures.

A *call* is a tool call the model proposed (a ``tool_proposed`` event), whatever policy
then decided: an agent that tries a forbidden tool has called it, even though the call
never ran. Its ``status`` says what became of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from proctor.evals._spec import CallStatus
from proctor.store import EventRow, RunState

INVALID_ARGUMENTS = "schema.invalid_arguments"


@dataclass(kw_only=True, slots=True)
class ObservedCall:
    step: int
    tool: str
    arguments: dict[str, Any]
    status: CallStatus = "proposed"
    rule: str | None = None
    """The rule of the latest policy decision on the call."""
    error_type: str | None = None


@dataclass(kw_only=True)
class Observed:
    """The facts of one replayed run that expectations are checked against."""

    outcome: str
    """The run's outcome, or ``awaiting_approval`` for a run paused for a person."""
    reason: str
    calls: list[ObservedCall] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    """Every rule that fired, in order: decisions, approvals, limits, escalations."""
    violations: list[tuple[str, str]] = field(default_factory=list)
    """(rule, reason) of each denial by policy and each escalation for a violation."""
    tool_calls: int = 0
    model_calls: int = 0
    tokens: int = 0
    cost_usd: float | None = 0.0
    final_text: str | None = None

    @property
    def escalated(self) -> bool:
        return self.outcome == "escalated"

    def tool_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.tool] = counts.get(call.tool, 0) + 1
        return counts


def observe(rows: Sequence[EventRow], state: RunState) -> Observed:
    """Fold a run's stored rows (and its final state) into what the checks read."""
    seen = Observed(
        outcome=state.outcome if state.status == "finished" and state.outcome else state.status,
        reason=state.finish_reason or "",
        tool_calls=state.tool_calls,
        model_calls=state.model_calls,
        tokens=state.tokens,
        cost_usd=round(state.cost_usd, 10) if state.cost_known else None,
        final_text=state.final_text,
    )
    by_id: dict[str, ObservedCall] = {}
    for row in rows:
        kind, meta = row.type, row.meta
        if kind == "tool_proposed":
            content = row.content or {}
            call = ObservedCall(
                step=meta["step"], tool=meta["tool"], arguments=content.get("arguments") or {}
            )
            by_id[meta["call_id"]] = call
            seen.calls.append(call)
        elif kind == "policy_decided":
            rule = meta["rule"]
            seen.rules.append(rule)
            call = by_id.get(meta["call_id"]) or _unknown(meta)
            call.rule = rule
            if meta["decision"] == "deny":
                call.status = "invalid" if rule == INVALID_ARGUMENTS else "denied"
                if rule != INVALID_ARGUMENTS:
                    seen.violations.append((rule, meta["reason"]))
        elif kind == "approval_requested":
            seen.rules.append(meta["rule"])
            (by_id.get(meta["call_id"]) or _unknown(meta)).status = "awaiting_approval"
        elif kind == "tool_finished":
            call = by_id.get(meta["call_id"]) or _unknown(meta)
            call.status = "ok" if meta["ok"] else "error"
            call.error_type = meta.get("error_type")
        elif kind == "draft_recorded":
            (by_id.get(meta["call_id"]) or _unknown(meta)).status = "draft"
        elif kind in ("limit_reached", "escalated"):
            seen.rules.append(meta["rule"])
            if kind == "escalated" and meta["trigger"] == "policy_violation":
                seen.violations.append((meta["rule"], meta["reason"]))
    return seen


def _unknown(meta: dict[str, Any]) -> ObservedCall:
    # An event about a call whose proposal is not in the log (cannot happen in a replay,
    # whose log is whole): a throwaway record keeps the fold total.
    return ObservedCall(step=-1, tool=str(meta.get("tool", "")), arguments={})
