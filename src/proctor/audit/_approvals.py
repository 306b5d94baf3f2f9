"""What an approver is shown: each approval as its run's chain asked it."""

from __future__ import annotations

from collections.abc import Sequence

from proctor.store import ApprovalRecord, EventRow, Store, chained_approval


async def chained_approvals(
    store: Store, approvals: Sequence[ApprovalRecord]
) -> list[ApprovalRecord]:
    """``approvals`` as their runs' chains asked them (``chained_approval``): what an
    approver is shown is what the run asked, whatever the approvals table says. Only each
    run's ``approval_requested`` events are read, not its whole log."""
    logs: dict[str, list[EventRow]] = {}
    shown = []
    for approval in approvals:
        if approval.run_id not in logs:
            logs[approval.run_id] = await store.events(
                approval.run_id, event_type="approval_requested"
            )
        shown.append(chained_approval(approval, logs[approval.run_id]))
    return shown
