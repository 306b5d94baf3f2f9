"""Approve and Deny clicks from Slack: checking that Slack sent them, and who clicked.

A Slack app whose interactivity Request URL is ``{base_url}/integrations/slack/actions``
posts each click there, form-encoded (``payload=`` JSON), signed with the app's signing
secret: ``X-Slack-Signature: v0=`` and the hex HMAC-SHA256 of
``"v0:{X-Slack-Request-Timestamp}:{body}"``. A request signed by none of the interactive
channels' secrets, or signed more than five minutes ago (a replay), is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from proctor.errors import AccessDenied, UsageError
from proctor.gateway import NotificationsConfig
from proctor.gateway._notify_config import SlackApprover
from proctor.notifications._messages import APPROVE_ACTION, DENY_ACTION

logger = logging.getLogger("proctor.notifications")

SLACK_SIGNATURE = "x-slack-signature"
SLACK_TIMESTAMP = "x-slack-request-timestamp"
TOLERANCE_S = 300.0


@dataclass(frozen=True)
class SlackAction:
    """One Approve or Deny click on an approval message."""

    approval_id: str
    approve: bool
    user_id: str
    user_name: str
    channel: str
    """The ``notifications:`` channel whose secret signed the request."""
    approver: SlackApprover | None
    """Who the user is in Proctor; ``None``: not one of the channel's approvers."""
    response_url: str | None
    """Where Slack takes a reply to the click (it replaces the message, or is shown only
    to the user)."""


def slack_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack sends with ``body`` at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def read_slack_action(
    config: NotificationsConfig,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
) -> SlackAction | None:
    """The click ``body`` carries, once its signature is checked: ``None`` for an
    interaction that decides nothing (the Review link). Raises ``AccessDenied`` for a
    request Slack did not sign, and ``UsageError`` for a body that is not a click."""
    channel = _signed_by(config, body, headers, time.time() if now is None else now)
    try:
        [raw] = parse_qs(body.decode(), strict_parsing=True)["payload"]
        payload = orjson.loads(raw)
        user = payload["user"]
        actions = payload.get("actions") or []
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UsageError(
            "not a Slack interaction: the body must be payload=<JSON with user and actions>"
        ) from exc
    if payload.get("type") != "block_actions" or not isinstance(user, dict):
        return None
    for action in actions:
        if not isinstance(action, dict):
            continue
        if action.get("action_id") in (APPROVE_ACTION, DENY_ACTION):
            slack = config.channels[channel].slack
            assert slack is not None
            user_id = str(user.get("id", ""))
            url = payload.get("response_url")
            return SlackAction(
                approval_id=str(action.get("value", "")),
                approve=action["action_id"] == APPROVE_ACTION,
                user_id=user_id,
                user_name=str(user.get("username") or user.get("name") or user_id),
                channel=channel,
                approver=slack.approvers.get(user_id),
                response_url=url
                if isinstance(url, str) and url.startswith(("https://", "http://"))
                else None,
            )
    return None


def _signed_by(
    config: NotificationsConfig, body: bytes, headers: Mapping[str, str], now: float
) -> str:
    """The interactive Slack channel whose signing secret signed the request."""
    lowered = {name.lower(): value for name, value in headers.items()}
    given, stamp = lowered.get(SLACK_SIGNATURE, ""), lowered.get(SLACK_TIMESTAMP, "")
    try:
        fresh = abs(now - int(stamp)) <= TOLERANCE_S
    except ValueError:
        fresh = False
    if not given or not fresh:
        raise AccessDenied(
            "not a Slack request signed in the last 5 minutes (X-Slack-Signature and "
            "X-Slack-Request-Timestamp). Fix: point the Slack app's Request URL here, and "
            "keep this server's clock right"
        )
    interactive = False
    for name, channel in config.channels.items():
        slack = channel.slack
        if slack is None or slack.signing_secret_env is None:
            continue
        interactive = True
        secret = os.environ.get(slack.signing_secret_env, "")
        if not secret:
            logger.warning(
                "%s is not set: Slack clicks for channel %s cannot be checked",
                slack.signing_secret_env,
                name,
            )
            continue
        if hmac.compare_digest(given, slack_signature(secret.encode(), stamp, body)):
            return name
    if not interactive:
        raise AccessDenied(
            "no Slack channel in proctor.yaml's notifications: takes clicks. Fix: give the "
            "channel signing_secret_env (docs/notifications.md)"
        )
    raise AccessDenied("the Slack signature does not match any channel's signing secret")


def reply(decided: bool, text: str) -> dict[str, Any]:
    """The body posted to a click's ``response_url``: a decision replaces the message's
    buttons with what was decided; a refusal is shown only to who clicked."""
    if decided:
        return {"replace_original": True, "text": text}
    return {"response_type": "ephemeral", "replace_original": False, "text": text}
