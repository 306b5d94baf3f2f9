"""What an approver is shown: each approval as its run's chain asked it."""

from __future__ import annotations

from collections.abc import Sequence

from proctor.store import ApprovalRecord, EventRow, RunFilter, Store, chained_approval


async def chained_approvals(
    store: Store, approvals: Sequence[ApprovalRecord]
) -> list[ApprovalRecord]:
    """``approvals`` as their runs' chains asked them (``chained_approval``): what an
    approver is shown is what the run asked, whatever the approvals table says. Only the
    runs' ``approval_requested`` events are read (in one query), not their whole logs."""
    if not approvals:
        return []
    run_ids = tuple(dict.fromkeys(approval.run_id for approval in approvals))
    asked: dict[str, list[EventRow]] = {run_id: [] for run_id in run_ids}
    for row in await store.events_of_type("approval_requested", RunFilter(run_ids=run_ids)):
        asked[row.run_id].append(row)
    return [chained_approval(approval, asked[approval.run_id]) for approval in approvals]
