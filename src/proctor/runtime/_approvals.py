"""Approvals, from both sides: a run asking, a person deciding, the run continuing.

When policy requires approval, ``request_approval`` records ``approval_requested`` and the
``approvals`` row in one transaction with the decision, and the run waits in the store.
``decide_approval`` (behind ``proctor approve`` and ``proctor deny``) records a person's
decision in the run's own log. On resume, ``after_approval`` turns that decision into the
call's policy decision: ``approval.granted`` runs it, ``approval.denied`` denies it.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from proctor.errors import NotFoundError, RunStateError, UsageError
from proctor.policy import Decision, Redactor
from proctor.store import (
    ApprovalDecided,
    ApprovalRecord,
    ApprovalRequested,
    CallState,
    RunJournal,
    RunState,
    Store,
    row_to_event,
)

if TYPE_CHECKING:
    from proctor.runtime._execution import Execution


async def request_approval(ex: Execution, call: CallState, decision: Decision) -> None:
    """Ask a person about ``call``; the run's status becomes ``awaiting_approval``."""
    approval_id = "ap_" + secrets.token_hex(6)
    args_digest = call.args_digest or ""
    requested = ApprovalRequested(
        approval_id=approval_id,
        call_id=call.call.id,
        tool=call.call.name,
        args_digest=args_digest,
        rule=decision.rule,
        reason=decision.reason,
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
        requested_at=time.time(),
    )
    await ex.record([requested], span_id=call.call.id, approval=approval)


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

    The decision is bound to the exact call (tool and argument digest) the approval was
    requested for. The run does not continue here: resume it (the CLI does so at once).
    The reason is redacted like the rest of the run's record, by ``redactor`` (the
    workflow's ``Runner.redactor``) or else by the built-in detectors.
    """
    if not by.strip():
        raise UsageError("say who decides: an approval must name its approver (--as NAME)")
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
    if call.args_digest != approval.args_digest:
        raise RunStateError(
            f"approval {approval_id} no longer matches the call it was requested for"
        )
    run = await store.get_run(approval.run_id)
    redact = redactor if redactor is not None else Redactor()
    journal = RunJournal(
        store,
        run_id=approval.run_id,
        trace_id=rows[0].trace_id,
        root_span_id=rows[0].span_id,
        last_seq=state.last_seq,
        head_hash=state.head_hash,
        redact=redact,
    )
    now = time.time()
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


async def after_approval(ex: Execution, call: CallState) -> None:
    """Continue a call that required approval, from what the log holds about it."""
    if call.approval is None:  # the process died between decision and request
        decision = Decision(kind="require_approval", rule=call.rule or "", reason=call.reason or "")
        await request_approval(ex, call, decision)
    elif call.approval == "approved":
        granted = Decision(kind="allow", rule="approval.granted", reason="approved by a person")
        await ex.apply_decision(call, granted)
    elif call.approval == "denied":
        denied = Decision(
            kind="deny",
            rule="approval.denied",
            reason=f"the approver denied {call.call.name}",
            trigger="policy_violation",
        )
        await ex.apply_decision(call, denied)
    # pending: the loop stops, because the run's status is awaiting_approval
