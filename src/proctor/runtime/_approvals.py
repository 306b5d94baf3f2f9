"""Human decisions on pending approvals, recorded in the run's own log."""

from __future__ import annotations

import time

from proctor.errors import NotFoundError, RunStateError, UsageError
from proctor.policy import Redactor
from proctor.store import (
    ApprovalDecided,
    ApprovalRecord,
    RunJournal,
    RunState,
    Store,
    row_to_event,
)


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
