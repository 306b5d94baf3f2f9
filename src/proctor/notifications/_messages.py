"""What a notification says (a pending approval, its decision, an escalated run): one
payload, three renderings each (webhook JSON, plain text, Slack blocks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from proctor.store import ApprovalRecord, RunRecord, iso_or_none, iso_time


@dataclass(frozen=True, kw_only=True)
class Announcement:
    """A pending approval, with where to decide it."""

    approval: ApprovalRecord
    run: RunRecord | None
    link: str

    @property
    def subject(self) -> str:
        workflow = _workflow(self.run)
        return f"Approval needed: {self.approval.tool} in {workflow}"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (``event``: ``approval.requested``)."""
        a = self.approval
        return {
            "event": "approval.requested",
            "approval": {
                "approval_id": a.approval_id,
                "run_id": a.run_id,
                "tool": a.tool,
                "arguments": a.arguments,
                "rule": a.rule,
                "reason": a.reason,
                "approver": a.approver,
                "requested_at": iso_time(a.requested_at),
                "expires_at": iso_or_none(a.expires_at),
            },
            "run": _run_part(self.run),
            "link": self.link,
        }

    def text(self) -> str:
        """The plain-text message (e-mail body; Slack's fallback)."""
        a = self.approval
        expires = (
            "never expires"
            if a.expires_at is None
            else "expires "
            + datetime.fromtimestamp(a.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        )
        arguments = orjson.dumps(a.arguments, option=orjson.OPT_INDENT_2).decode()
        return (
            f"{self.subject}\n\n"
            f"Run {a.run_id} wants to call {a.tool} with:\n{arguments}\n\n"
            f"Rule {a.rule}: {a.reason}\n"
            f"The request {expires}. Approve or deny it at:\n{self.link}\n"
        )

    def slack(self, *, actions: bool = False) -> dict[str, Any]:
        """A Slack incoming-webhook message: the call, the rule and a link to decide;
        with ``actions``, Approve and Deny buttons too (a Slack app takes the clicks)."""
        a = self.approval
        arguments = orjson.dumps(a.arguments).decode()
        if len(arguments) > 1500:
            arguments = arguments[:1497] + "..."
        buttons: list[dict[str, Any]] = []
        if actions:
            buttons = [
                _button("Approve", action_id=APPROVE_ACTION, value=a.approval_id, style="primary"),
                _button("Deny", action_id=DENY_ACTION, value=a.approval_id, style="danger")
                | {
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Deny this call?"},
                        "text": {"type": "plain_text", "text": f"{a.tool} will not run."},
                        "confirm": {"type": "plain_text", "text": "Deny"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    }
                },
            ]
        return {
            "text": self.subject,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"*Rule* `{a.rule}`: {a.reason}\n*Run* `{a.run_id}`\n"
                        f"*Arguments* ```{arguments}```",
                    },
                },
                {
                    "type": "actions",
                    "block_id": f"proctor_{a.approval_id}",
                    "elements": [*buttons, _button("Review", url=self.link)],
                },
            ],
        }


def _workflow(run: RunRecord | None) -> str:
    return run.workflow if run is not None else "a run"


def _run_part(run: RunRecord | None) -> dict[str, str] | None:
    """The ``run`` of an approval's webhook body: its workflow and tenant."""
    return None if run is None else {"workflow": run.workflow, "tenant": run.tenant}


APPROVE_ACTION = "proctor_approve"
DENY_ACTION = "proctor_deny"


def _button(text: str, **fields: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}} | fields


@dataclass(frozen=True, kw_only=True)
class DecisionNote:
    """An approval decided (or expired), told where its request was announced."""

    approval: ApprovalRecord
    run: RunRecord | None
    link: str

    @property
    def subject(self) -> str:
        workflow = _workflow(self.run)
        return f"{self.approval.status.capitalize()}: {self.approval.tool} in {workflow}"

    @property
    def line(self) -> str:
        """One line: what was decided, by whom, and why."""
        a = self.approval
        by = f" by {a.decided_by}" if a.decided_by else ""
        why = f": {a.decision_reason}" if a.decision_reason else ""
        return f"{a.status.capitalize()}{by}{why}"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (``event``: ``approval.decided``)."""
        a = self.approval
        return {
            "event": "approval.decided",
            "approval": {
                "approval_id": a.approval_id,
                "run_id": a.run_id,
                "tool": a.tool,
                "rule": a.rule,
                "status": a.status,
                "decided_by": a.decided_by,
                "decision_reason": a.decision_reason,
                "decided_at": iso_or_none(a.decided_at),
            },
            "run": _run_part(self.run),
            "link": self.link,
        }

    def text(self) -> str:
        a = self.approval
        return (
            f"{self.subject}\n\n{self.line}.\n"
            f"Run {a.run_id} asked to call {a.tool} (rule {a.rule}). The run:\n{self.link}\n"
        )

    def slack(self, *, actions: bool = False) -> dict[str, Any]:
        return {
            "text": f"{self.subject}. {self.line}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{self.subject}*"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": self.line[:2900]}]},
                {"type": "actions", "elements": [_button("Open the run", url=self.link)]},
            ],
        }


@dataclass(frozen=True, kw_only=True)
class EscalationNote:
    """A run that ended escalated: handed to people, with why and where to look."""

    run: RunRecord
    reason: str
    link: str

    @property
    def subject(self) -> str:
        return f"Run escalated: {self.run.workflow} ({self.run.run_id})"

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (``event``: ``run.escalated``)."""
        run = self.run
        return {
            "event": "run.escalated",
            "run": {
                "run_id": run.run_id,
                "workflow": run.workflow,
                "tenant": run.tenant,
                "reason": self.reason,
                "started_at": iso_time(run.started_at),
                "finished_at": iso_or_none(run.finished_at),
                "tool_calls": run.tool_calls,
                "cost_usd": run.cost_usd,
            },
            "link": self.link,
        }

    def text(self) -> str:
        return (
            f"{self.subject}\n\nThe run was handed to people: {self.reason}\n"
            f"Its trace, and what it did before it stopped:\n{self.link}\n"
        )

    def slack(self, *, actions: bool = False) -> dict[str, Any]:
        return {
            "text": self.subject,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Why* {self.reason}"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open the run"},
                            "url": self.link,
                        }
                    ],
                },
            ],
        }


Note = Announcement | DecisionNote | EscalationNote
"""Anything a notification says."""
