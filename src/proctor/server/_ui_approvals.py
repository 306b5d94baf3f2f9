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
from proctor.server._appstate import state_of
from proctor.server._errors import status_and_code
from proctor.server._keys import Principal
from proctor.server._ui_base import (
    checker_verdicts,
    guarded,
    local_path,
    pending_approvals,
    render,
    secure,
)
from proctor.store import ApprovalRecord

router = APIRouter(include_in_schema=False)

RECENT = 20
_DECIDED = ("approved", "denied", "expired")


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
    store = state_of(request).service.store
    pending = await pending_approvals(request, principal)
    starters: dict[str, str] = {}
    for item in pending:
        run = await store.get_run(item.run_id)
        starters[item.run_id] = "" if run is None else run.started_by
    context: dict[str, Any] = {
        "pending": pending,
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
        pending=pending,
    )


async def _recent(request: Request, principal: Principal) -> list[ApprovalRecord]:
    store = state_of(request).service.store
    decided: list[ApprovalRecord] = []
    for status in _DECIDED:
        decided += await store.list_approvals(status, tenant=principal.tenant)
    decided.sort(key=lambda item: item.decided_at or item.requested_at, reverse=True)
    return await chained_approvals(store, decided[:RECENT])
