"""Approvals, from the run's side: asking, waiting, and continuing once decided.

When policy requires approval, ``request_approval`` records ``approval_requested`` and the
``approvals`` row in one transaction with the decision. With ``by: human`` the run waits
in the store; with a checker, the checker decides at once (``_checker``). A person's
decision is recorded by ``decide_approval`` (``_decide``). On resume, ``after_approval``
turns what the log holds into the call's policy decision: ``approval.granted`` runs it,
``approval.denied`` and ``approval.expired`` deny it.
"""

from __future__ import annotations

import secrets
from typing import Any

from proctor.contracts import ApprovalRule
from proctor.policy import Decision, approval_denied, approval_expired, approval_granted
from proctor.runtime._deps import RunDeps
from proctor.runtime._live import LiveRun
from proctor.runtime._results import WAITING, Ask, Attend, Consult, Decided, Step, Waiting
from proctor.store import ApprovalExpired, ApprovalRecord, ApprovalRequested, Approver, CallState

_DEFAULT_TTL: float | None = ApprovalRule.model_fields["expires_after_seconds"].default


async def request_approval(
    deps: RunDeps, run: LiveRun, call: CallState, decision: Decision
) -> Waiting | Consult:
    """Ask for a decision on ``call``: the run waits (``awaiting_approval``) for a person,
    or the checker decides at once (``by: checker``/``checker_then_human``)."""
    approval_id = "ap_" + secrets.token_hex(6)
    args_digest = call.args_digest or ""
    rule = deps.approval_rules.get(decision.rule)
    by: Approver = rule.by if rule is not None else "human"  # unknown rule: ask a person
    now = deps.clock()
    # A request no approval rule made (a deny rule's or a ceiling's require_approval)
    # expires as an approval rule does by default.
    ttl = rule.expires_after_seconds if rule is not None else _DEFAULT_TTL
    expires_at = None if ttl is None else now + ttl
    requested = ApprovalRequested(
        approval_id=approval_id,
        call_id=call.call.id,
        tool=call.call.name,
        args_digest=args_digest,
        rule=decision.rule,
        reason=decision.reason,
        by=by,
        expires_at=expires_at,
        arguments=call.call.arguments,
    )
    # The approvals table shows what the log keeps: redacted arguments and reason.
    shown: dict[str, Any] = {"arguments": call.call.arguments, "reason": decision.reason}
    if deps.redact is not None:
        shown = deps.redact(shown)
    approval = ApprovalRecord(
        approval_id=approval_id,
        run_id=run.run_id,
        call_id=call.call.id,
        tool=call.call.name,
        args_digest=args_digest,
        arguments=shown["arguments"],
        rule=decision.rule,
        reason=shown["reason"],
        requested_at=now,
        approver=by,
        expires_at=expires_at,
    )
    await run.write([requested], span_id=call.call.id, approval=approval)
    if by != "human":
        return Consult(call=run.state.calls[call.call.id], approval=approval)
    return WAITING


async def after_approval(deps: RunDeps, run: LiveRun, call: CallState) -> Step:
    """The next step of a call that required approval, from what the log holds about it."""
    if call.approval is None:  # the process died between decision and request
        decision = Decision(kind="require_approval", rule=call.rule or "", reason=call.reason or "")
        return Ask(call=call, decision=decision)
    if call.approval == "pending":
        if call.approver != "human" and call.checker_approved is None:
            return Consult(call=call)  # the process died before the checker answered
        if _overdue(call, deps.clock()):
            return await _expire(deps, run, call)
        return WAITING
    if call.approval == "approved":
        return Decided(call=call, decision=approval_granted(call.decided_by))
    if call.approval == "denied":
        denied = approval_denied(call.call.name, call.decided_by, call.decided_reason)
        return Decided(call=call, decision=denied)
    return Decided(call=call, decision=approval_expired(call.call.name))


def attend_pending(deps: RunDeps, run: LiveRun) -> Attend | Waiting:
    """On resume of a waiting run: let the checker decide if it has not yet (the process
    died first), or expire an approval nobody decided in time. Otherwise it keeps waiting."""
    state = run.state
    call = next((c for c in state.calls.values() if c.approval_id == state.pending_approval), None)
    if call is None:
        return WAITING
    if _overdue(call, deps.clock()) or (call.approver != "human" and call.checker_approved is None):
        return Attend(call.call.id)
    return WAITING


def _overdue(call: CallState, now: float) -> bool:
    return call.approval_expires_at is not None and now >= call.approval_expires_at


async def _expire(deps: RunDeps, run: LiveRun, call: CallState) -> Decided:
    """Record that ``call``'s approval expired, then deny the call (the run escalates)."""
    record = await deps.store.get_approval(call.approval_id or "")
    now = deps.clock()
    if record is not None:
        record.status, record.decided_at, record.decided_by = "expired", now, "expiry"
    expired = ApprovalExpired(
        approval_id=call.approval_id or "", call_id=call.call.id, expired_at=now
    )
    await run.write([expired], span_id=call.call.id, approval=record)
    return Decided(call=run.state.calls[call.call.id], decision=approval_expired(call.call.name))
