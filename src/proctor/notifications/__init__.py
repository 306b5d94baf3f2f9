"""Approvals that reach people: pending approvals announced on signed webhooks, e-mail
and Slack, routed by the contract's rules, every attempt in the store's delivery log.

Configured in ``proctor.yaml``'s ``notifications:`` (``proctor.gateway.NotificationsConfig``);
run by ``proctor serve`` and ``proctor notify``. See docs/notifications.md.
"""

from __future__ import annotations

from proctor.notifications._channels import DeliveryFailed
from proctor.notifications._messages import Announcement, EscalationNote
from proctor.notifications._notifier import DispatchReport, Notifier
from proctor.notifications._signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    verify_signature,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Announcement",
    "DeliveryFailed",
    "DispatchReport",
    "EscalationNote",
    "Notifier",
    "signature",
    "verify_signature",
]
