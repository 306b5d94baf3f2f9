"""The approvals inbox: pending calls with their exact arguments, approve or deny with a
reason, and the latest decisions. Deciding goes through ``Service.decide``, so the API's
rules hold here too (role, tenant, separation of duties); a refusal is shown on the page.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proctor.audit import chained_approvals
from proctor.errors import ProctorError, UsageError
from proctor.server._api_query import decode_approval_cursor, encode_approval_cursor
from proctor.server._appstate import state_of
from proctor.server._errors import status_and_code
from proctor.server._keys import Principal
from proctor.server._ui_base import (
    checker_verdicts,
    guarded,
    local_path,
    pending_count,
    render,
    secure,
)
from proctor.store import ApprovalRecord, RunFilter, approval_key

router = APIRouter(include_in_schema=False)

PAGE = 50
RECENT = 20


@router.get("/approvals")
async def approvals_page(request: Request) -> Response:
    async def page(principal: Principal) -> Response:
        principal.require("read")
        decided = request.query_params.get("decided")
        message = (
            {"kind": "ok", "text": f"Done: the call was {decided}; its run continues."}
            if decided in ("approved", "denied")
            else None
        )
        return await _inbox(request, principal, message)

    return await guarded(request, page)


@router.post("/approvals/{approval_id}")
async def decide(request: Request, approval_id: str) -> Response:
    async def post(principal: Principal) -> Response:
        form = await request.form()
        target = local_path(str(form.get("next") or ""), "/approvals")
        if not state_of(request).auth.same_origin(request):
            message = (
                "This decision was not sent from this server's own page, so it was refused. "
                "Open the approvals page again and decide there."
            )
            return await _inbox(request, principal, {"kind": "error", "text": message}, 403)
        decision = str(form.get("decision") or "")
        reason = str(form.get("reason") or "").strip()
        try:
            if decision not in ("approve", "deny"):
                raise UsageError("choose Approve or Deny")
            if decision == "deny" and not reason:
                raise UsageError("a denial needs a reason, so the run's log can explain it")
            await state_of(request).service.decide(
                principal, approval_id, approved=decision == "approve", reason=reason
            )
        except (ProctorError, UsageError) as exc:
            status, _ = status_and_code(exc)
            text = f"Could not record the decision on {approval_id}: {exc}"
            return await _inbox(request, principal, {"kind": "error", "text": text}, status)
        verdict = "approved" if decision == "approve" else "denied"
        separator = "&" if "?" in target else "?"
        url = f"{target}{separator}{urlencode({'decided': verdict})}"
        return secure(RedirectResponse(url, status_code=303))

    return await guarded(request, post)


async def _inbox(
    request: Request,
    principal: Principal,
    message: dict[str, str] | None,
    status: int = 200,
) -> Response:
    service = state_of(request).service
    cursor = request.query_params.get("after", "")
    found = await service.approvals(
        principal, "pending", after=_cursor(cursor) if cursor else None, limit=PAGE + 1
    )
    pending = found[:PAGE]
    next_url = ""
    if len(found) > PAGE:
        after = encode_approval_cursor(approval_key("requested", pending[-1]))
        next_url = "/approvals?" + urlencode({"after": after})
    total = await pending_count(request, principal)  # for the heading and the nav
    # Who started each run: one query for the page, not one per approval.
    run_ids = tuple(dict.fromkeys(item.run_id for item in pending))
    runs = (
        await service.store.list_runs(RunFilter(run_ids=run_ids, limit=len(run_ids)))
        if run_ids
        else []
    )
    starters = {item.run_id: "" for item in pending} | {r.run_id: r.started_by for r in runs}
    context: dict[str, Any] = {
        "pending": pending,
        "pending_total": total,
        "cursor": cursor,
        "next_url": next_url,
        "starters": starters,
        "verdicts": await checker_verdicts(request, pending),
        "decided": await _recent(request, principal),
        "message": message,
        "now": time.time(),
    }
    return await render(
        request,
        principal,
        "approvals.html",
        context,
        status=status,
        nav="approvals",
        pending=total,
    )


async def _recent(request: Request, principal: Principal) -> list[ApprovalRecord]:
    store = state_of(request).service.store
    decided = await store.list_approvals(
        None, tenant=principal.tenant, order="-decided", limit=RECENT
    )
    return await chained_approvals(store, decided)


def _cursor(text: str) -> tuple[float, str]:
    try:
        return decode_approval_cursor(text)
    except UsageError:
        raise UsageError(
            "this page link is not valid (its 'after' cursor is damaged); start again from "
            "the first page of approvals"
        ) from None
