"""Approvals, from both sides: a run asking, a person or the checker deciding, the run
continuing.

When policy requires approval, ``request_approval`` records ``approval_requested`` and the
``approvals`` row in one transaction with the decision. With ``by: human`` the run waits
in the store; with a checker, ``consult_checker`` asks the second model at once.
``decide_approval`` (behind ``proctor approve`` and ``proctor deny``) records a person's
decision in the run's own log, or the expiry if it came too late. On resume,
``after_approval`` turns what the log holds into the call's policy decision:
``approval.granted`` runs it, ``approval.denied`` and ``approval.expired`` deny it.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from typing import TYPE_CHECKING, Any

from proctor.errors import AccessDenied, NotFoundError, RunStateError, UsageError
from proctor.policy import (
    Decision,
    Redactor,
    approval_denied,
    approval_expired,
    approval_granted,
)
from proctor.runtime._checker import consult_checker
from proctor.store import (
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRecord,
    ApprovalRequested,
    Approver,
    CallState,
    RunJournal,
    RunStarted,
    RunState,
    Store,
    row_to_event,
)

if TYPE_CHECKING:
    from proctor.runtime._driver import Execution


async def request_approval(ex: Execution, call: CallState, decision: Decision) -> None:
    """Ask for a decision on ``call``: the run waits (``awaiting_approval``) for a person,
    or the checker decides at once (``by: checker``/``checker_then_human``)."""
    approval_id = "ap_" + secrets.token_hex(6)
    args_digest = call.args_digest or ""
    rule = ex.runner.approval_rules.get(decision.rule)
    by: Approver = rule.by if rule is not None else "human"  # unknown rule: ask a person
    now = time.time()
    ttl = rule.expires_after_seconds if rule is not None else None
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
    if ex.runner.redact is not None:
        shown = ex.runner.redact(shown)
    approval = ApprovalRecord(
        approval_id=approval_id,
        run_id=ex.journal.run_id,
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
    await ex.record([requested], span_id=call.call.id, approval=approval)
    if by != "human":
        await consult_checker(ex, ex.state.calls[call.call.id], approval)
        await after_approval(ex, ex.state.calls[call.call.id])


async def decide_approval(
    store: Store,
    approval_id: str,
    *,
    approved: bool,
    by: str,
    reason: str = "",
    redactor: Redactor | None = None,
) -> ApprovalRecord:
    """Record who approved or denied a pending call, and why.

    ``by`` is the decider's identity: whoever started the run may not decide its approvals
    (separation of duties, compared by ``same_person``), whichever channel they use.
    The decision is bound to the exact call (tool and argument digest) the approval was
    requested for. The run does not continue here: resume it (the CLI does so at once).
    The reason is redacted like the rest of the run's record, by ``redactor`` (the
    workflow's ``Runner.redactor``) or else by the built-in detectors.
    """
    if not by.strip():
        raise UsageError("say who decides: an approval must name its approver (--as NAME)")
    if identity_key(by).startswith("checker:"):
        raise UsageError(f"{by!r} names the checker model; a person decides under their own name")
    if not approved and not reason.strip():
        raise UsageError("a denial needs a reason (--reason ...) so the run's log can explain it")
    approval = await store.get_approval(approval_id)
    if approval is None:
        raise NotFoundError(
            f"no approval {approval_id!r}; list pending ones with `proctor approvals`"
        )
    if approval.status != "pending":
        raise RunStateError(
            f"approval {approval_id} was already {approval.status} by {approval.decided_by}"
        )
    rows = await store.events(approval.run_id)
    state = RunState.from_events([row_to_event(row) for row in rows])
    call = state.calls.get(approval.call_id)
    if state.pending_approval != approval_id or call is None:
        raise RunStateError(
            f"run {approval.run_id} is not waiting for approval {approval_id} "
            f"(status {state.status}); nothing to decide"
        )
    started = row_to_event(rows[0]).data
    starter = started.started_by if isinstance(started, RunStarted) else ""
    if same_person(by, starter):
        raise AccessDenied(
            f"{by} started run {approval.run_id} (as {starter}), so may not decide its "
            "approvals: separation of duties. Ask another person to decide",
            status=403,
        )
    if call.args_digest != approval.args_digest:
        raise RunStateError(
            f"approval {approval_id} no longer matches the call it was requested for"
        )
    if call.approver == "checker":
        raise RunStateError(
            f"approval {approval_id} is decided by the contract's checker model, not a person "
            f"(its rule says by: checker). Resume the run to let the checker decide: "
            f"proctor resume {approval.run_id}"
        )
    if call.approver == "checker_then_human" and call.checker_approved is not True:
        raise RunStateError(
            f"approval {approval_id} needs the checker's verdict before a person's. Resume the "
            f"run to let the checker decide first: proctor resume {approval.run_id}"
        )
    run = await store.get_run(approval.run_id)
    redact = redactor if redactor is not None else Redactor()
    journal = RunJournal.resume(store, rows, redact=redact)
    now = time.time()
    if call.approval_expires_at is not None and now >= call.approval_expires_at:
        approval.status, approval.decided_at, approval.decided_by = "expired", now, "expiry"
        if run is not None:
            run.status, run.updated_at = "running", now
        expired = ApprovalExpired(approval_id=approval_id, call_id=call.call.id, expired_at=now)
        await journal.append([expired], span_id=approval.call_id, run=run, approval=approval)
        raise ApprovalExpiredError(
            f"approval {approval_id} expired {_ago(now - call.approval_expires_at)} ago and can "
            "no longer be granted; it is recorded as expired. Resume the run so it escalates: "
            f"proctor resume {approval.run_id}",
            run_id=approval.run_id,
        )
    approval.status = "approved" if approved else "denied"
    approval.decided_at = now
    approval.decided_by = by
    approval.decision_reason = redact({"reason": reason})["reason"]
    if run is not None:
        run.status = "running"
        run.updated_at = now
    decided = ApprovalDecided(
        approval_id=approval_id,
        call_id=approval.call_id,
        approved=approved,
        decided_by=by,
        reason=reason,
    )
    await journal.append([decided], span_id=approval.call_id, run=run, approval=approval)
    return approval


def identity_key(name: str) -> str:
    """The identity a name stands for: case, Unicode compatibility forms, surrounding and
    repeated spaces and a ``cli:``/``user:`` prefix make no difference."""
    text = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    for prefix in ("cli:", "user:"):
        if text.startswith(prefix):
            return text.removeprefix(prefix).strip()
    return text


def same_person(a: str, b: str) -> bool:
    """Whether two recorded identities (``started_by``, an approver) are one person."""
    key = identity_key(a)
    return bool(key) and key == identity_key(b)


class ApprovalExpiredError(RunStateError):
    """A decision came after the approval expired; the expiry is recorded instead."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


async def after_approval(ex: Execution, call: CallState) -> None:
    """Continue a call that required approval, from what the log holds about it."""
    if call.approval is None:  # the process died between decision and request
        decision = Decision(kind="require_approval", rule=call.rule or "", reason=call.reason or "")
        await request_approval(ex, call, decision)
    elif call.approval == "pending":
        if call.approver != "human" and call.checker_approved is None:
            await consult_checker(ex, call)  # the process died before the checker answered
            await after_approval(ex, ex.state.calls[call.call.id])
        elif call.approval_expires_at is not None and time.time() >= call.approval_expires_at:
            await _expire(ex, call)
        # else: the loop stops, because the run's status is awaiting_approval
    elif call.approval == "approved":
        await ex.apply_decision(call, approval_granted(call.decided_by))
    elif call.approval == "denied":
        denied = approval_denied(call.call.name, call.decided_by, call.decided_reason)
        await ex.apply_decision(call, denied)
    elif call.approval == "expired":
        await ex.apply_decision(call, approval_expired(call.call.name))


async def attend_pending(ex: Execution) -> None:
    """On resume of a waiting run: let the checker decide if it has not yet (the process
    died first), or expire an approval nobody decided in time. Otherwise it keeps waiting."""
    call = next(
        (c for c in ex.state.calls.values() if c.approval_id == ex.state.pending_approval), None
    )
    if call is None:
        return
    overdue = call.approval_expires_at is not None and time.time() >= call.approval_expires_at
    if overdue or (call.approver != "human" and call.checker_approved is None):
        await after_approval(ex, call)


async def _expire(ex: Execution, call: CallState) -> None:
    """Record that ``call``'s approval expired, then deny the call (the run escalates)."""
    record = await ex.runner.store.get_approval(call.approval_id or "")
    now = time.time()
    if record is not None:
        record.status, record.decided_at, record.decided_by = "expired", now, "expiry"
    expired = ApprovalExpired(
        approval_id=call.approval_id or "", call_id=call.call.id, expired_at=now
    )
    await ex.record([expired], span_id=call.call.id, approval=record)
    await ex.apply_decision(ex.state.calls[call.call.id], approval_expired(call.call.name))
