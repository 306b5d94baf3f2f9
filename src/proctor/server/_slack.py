"""``POST /integrations/slack/actions``: Approve and Deny clicks on Slack approval messages.

Not under ``/api/``: Slack authenticates with its signature (``proctor.notifications``
checks it against the signing secret of each interactive channel), not an API key. The
clicking user decides as the Proctor identity ``approvers:`` maps them to, with the
approver role in that tenant: separation of duties and expiry apply as in the UI. Slack
is answered at once (it waits 3 s); what was decided, or why not, goes to the click's
``response_url``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import PlainTextResponse, Response

from proctor.errors import AccessDenied, ProctorError, UsageError
from proctor.notifications import SlackAction, read_slack_action, slack_reply
from proctor.server._appstate import state_of
from proctor.server._keys import Principal
from proctor.server._service import Service

logger = logging.getLogger("proctor.server")

router = APIRouter(tags=["integrations"])


@router.post("/integrations/slack/actions", include_in_schema=False)
async def slack_actions(request: Request) -> Response:
    """Decide the approval an Approve or Deny button was clicked for."""
    state = state_of(request)
    body = await request.body()
    try:
        action = read_slack_action(state.notifications, body, request.headers)
    except AccessDenied as exc:
        return PlainTextResponse(str(exc), status_code=exc.status)
    except UsageError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    if action is None:  # the Review link, or another interaction: nothing to decide
        return Response(status_code=200)
    decided, text = await _decide(state.service, action)
    if action.response_url is None:
        return Response(status_code=200)
    answer = BackgroundTask(_answer, action.response_url, slack_reply(decided, text))
    return Response(status_code=200, background=answer)


async def _decide(service: Service, action: SlackAction) -> tuple[bool, str]:
    if action.approver is None:
        return False, (
            f"<@{action.user_id}> may not decide from Slack: this user is not among the "
            f"approvers of channel {action.channel} in proctor.yaml's notifications:, so "
            "nothing was decided. Ask an admin to add them, or decide in Proctor's UI."
        )
    principal = Principal(
        key_id=f"slack:{action.user_id}",
        name=f"Slack user {action.user_name}",
        role="approver",
        tenant=action.approver.tenant,
        holder=action.approver.identity,
    )
    reason = "" if action.approve else f"denied in Slack by {action.approver.identity}"
    try:
        approval = await service.decide(
            principal, action.approval_id, approved=action.approve, reason=reason
        )
    except (ProctorError, UsageError) as exc:
        return False, f"Nothing was decided: {exc}"
    verb = "Approved" if approval.status == "approved" else approval.status.capitalize()
    return True, (
        f"{verb} by {approval.decided_by}: {approval.tool} for run {approval.run_id}"
        + (f" ({approval.decision_reason})" if approval.decision_reason else "")
    )


async def _answer(url: str, body: dict[str, Any]) -> None:
    import httpx2

    try:
        async with httpx2.AsyncClient() as http:
            answer = await http.post(url, json=body, timeout=5.0)
        if answer.status_code >= 300:
            logger.warning("Slack's response_url answered HTTP %s", answer.status_code)
    except httpx2.TransportError as exc:
        logger.warning("could not answer Slack's click: %s", exc)
