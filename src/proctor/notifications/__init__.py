"""Approvals that reach people: pending approvals announced on signed webhooks, e-mail
and Slack (with Approve and Deny buttons), routed by the contract's rules, their decisions
announced where they were asked, every attempt in the store's delivery log.

Configured in ``proctor.yaml``'s ``notifications:`` (``proctor.gateway.NotificationsConfig``);
run by ``proctor serve`` and ``proctor notify``. See docs/notifications.md.
"""

from __future__ import annotations

from proctor.notifications._channels import DeliveryFailed
from proctor.notifications._messages import Announcement, DecisionNote, EscalationNote
from proctor.notifications._notifier import DispatchReport, Notifier, decision_subject
from proctor.notifications._signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    verify_signature,
)
from proctor.notifications._slack import SlackAction, read_slack_action, slack_signature
from proctor.notifications._slack import reply as slack_reply

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Announcement",
    "DecisionNote",
    "DeliveryFailed",
    "DispatchReport",
    "EscalationNote",
    "Notifier",
    "SlackAction",
    "decision_subject",
    "read_slack_action",
    "signature",
    "slack_reply",
    "slack_signature",
    "verify_signature",
]
