"""The decisions the runtime meets on its way, made here so every rule id is policy's.

``Policy.decide`` judges a proposed call; these name what happens around it: a person's or
the checker's verdict, a credential refused, a tool or the model failing, a ceiling reached
while the model was called. What each leads to is ``consequence``'s.
"""

from __future__ import annotations

from proctor.policy._decision import Decision, RuleId

APPROVAL_DENIED: RuleId = "approval.denied"


def _checker(decided_by: str | None) -> bool:
    return (decided_by or "").startswith("checker:")


def approval_granted(decided_by: str | None) -> Decision:
    """The call was approved (by a person, or by the checker): it runs."""
    who = "the checker" if _checker(decided_by) else "a person"
    return Decision(kind="allow", rule="approval.granted", reason=f"approved by {who}")


def approval_denied(tool: str, decided_by: str | None, reason: str = "") -> Decision:
    """The call was denied by a person or the checker: a policy violation."""
    who = "checker" if _checker(decided_by) else "approver"
    return Decision(
        kind="deny",
        rule=APPROVAL_DENIED,
        reason=f"the {who} denied {tool}" + (f": {reason}" if reason else ""),
        trigger="policy_violation",
    )


def approval_expired(tool: str) -> Decision:
    """Nobody decided the call's approval in time."""
    return Decision(
        kind="deny",
        rule="approval.expired",
        reason=f"nobody decided the approval of {tool} in time; it can no longer be granted",
        trigger="approval_expired",
    )


def credential_denied(reason: str) -> Decision:
    """A tool's credential could not be issued, or the tool refused it: a policy denial."""
    return Decision(
        kind="deny", rule="credential.denied", reason=reason, trigger="policy_violation"
    )


def tool_failed(tool: str, error: str | None) -> Decision:
    """A tool raised or timed out (what that leads to is ``escalation.on_tool_error``'s)."""
    return Decision(
        kind="deny",
        rule="escalation.on_tool_error",
        reason=f"{tool} failed: {error}",
        trigger="tool_error",
    )


def model_failed(reason: str) -> Decision:
    """The model could not be called (every deployment failed, or it answered nonsense)."""
    return Decision(
        kind="deny",
        rule="escalation.on_model_error",
        reason=f"model error: {reason}",
        trigger="model_error",
    )


def runtime_exceeded() -> Decision:
    """The model call was still running when the run's runtime ceiling passed."""
    return Decision(
        kind="deny",
        rule="limit.max_runtime_seconds",
        reason="the model call ran past the run's runtime ceiling",
        trigger="budget_exceeded",
    )


def cost_refused(reason: str, *, spent: float, ceiling: float | None) -> Decision:
    """The gateway refused a model call that the run's cost ceiling could not pay for."""
    return Decision(
        kind="deny",
        rule="limit.max_cost_usd",
        reason=reason,
        trigger="budget_exceeded",
        limit="max_cost_usd",
        value=round(spent, 8),
        ceiling=ceiling,
    )
