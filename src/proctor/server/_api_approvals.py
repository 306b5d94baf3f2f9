"""``/api/v1/approvals``: the tenant's approvals, and deciding them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from proctor.errors import UsageError
from proctor.server._api_deps import ApprovalId, Auth, Svc, errors, text_query
from proctor.server._api_query import decode_approval_cursor, encode_approval_cursor
from proctor.server._schemas import ApprovalList, ApprovalOut, Approve, Deny
from proctor.store import approval_key

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])


@router.get("", responses=errors())
async def list_approvals(
    principal: Auth,
    service: Svc,
    status: Annotated[
        Literal["pending", "approved", "denied", "expired", "all"],
        Query(description="Which approvals: pending (default), a decided status, or all."),
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=500, description="Approvals per page.")] = 50,
    cursor: Annotated[
        str | None, text_query("The next_cursor of the previous page (with the same status).")
    ] = None,
) -> ApprovalList:
    """The tenant's approvals, oldest request first, each with the exact call it is for,
    a page at a time."""
    found = await service.approvals(
        principal,
        None if status == "all" else status,
        after=None if cursor is None else decode_approval_cursor(cursor),
        limit=limit + 1,  # one more than a page: whether it exists says if there is a next
    )
    page, more = found[:limit], len(found) > limit
    return ApprovalList(
        approvals=[ApprovalOut.of(approval) for approval in page],
        next_cursor=encode_approval_cursor(approval_key("requested", page[-1])) if more else None,
    )


@router.get("/{approval_id}", responses=errors(404))
async def get_approval(approval_id: ApprovalId, principal: Auth, service: Svc) -> ApprovalOut:
    """One approval of the tenant."""
    return ApprovalOut.of(await service.approval(principal, approval_id))


@router.post("/{approval_id}/approve", responses=errors(403, 404, 409))
async def approve(
    approval_id: ApprovalId, principal: Auth, service: Svc, body: Approve | None = None
) -> ApprovalOut:
    """Approve the exact call; the run continues in the background.

    Needs role approver or admin, and a key holder other than the one who started the run
    (separation of duties). An approval decided already answers 409.
    """
    reason = "" if body is None else body.reason
    decided = await service.decide(principal, approval_id, approved=True, reason=reason)
    return ApprovalOut.of(decided)


@router.post("/{approval_id}/deny", responses=errors(403, 404, 409))
async def deny(approval_id: ApprovalId, body: Deny, principal: Auth, service: Svc) -> ApprovalOut:
    """Deny the call, with a reason; the run then follows its contract's escalation rule.

    Needs role approver or admin, and a key holder other than the one who started the run.
    """
    principal.require("decide")  # a role that may not decide learns that first
    if not body.reason.strip():
        raise UsageError('a denial needs a reason: send {"reason": "why"} (not blank)')
    decided = await service.decide(principal, approval_id, approved=False, reason=body.reason)
    return ApprovalOut.of(decided)
