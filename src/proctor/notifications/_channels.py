"""Sending one announcement on one channel: a signed webhook, an e-mail, a Slack message.

Each returns what the receiver answered, or raises ``DeliveryFailed`` saying why; the
notifier logs either as a delivery attempt.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import orjson

from proctor.gateway import ChannelConfig
from proctor.gateway._notify_config import EmailChannel, SlackChannel, WebhookChannel
from proctor.notifications._messages import Note
from proctor.notifications._signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature


class DeliveryFailed(Exception):
    """A channel refused or could not be reached; the message says which and why."""


async def send(channel: ChannelConfig, note: Note, http: Any) -> str:
    """Deliver ``note`` on ``channel`` (``http``: an ``httpx2.AsyncClient``)."""
    if channel.webhook is not None:
        return await _webhook(channel.webhook, note, http)
    if channel.slack is not None:
        return await _slack(channel.slack, note, http)
    assert channel.email is not None
    return await asyncio.to_thread(_email, channel.email, note)


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DeliveryFailed(f"{name} is not set (the {what}). Fix: export {name}=...")
    return value


async def _webhook(config: WebhookChannel, note: Note, http: Any) -> str:
    payload = note.payload()
    body = orjson.dumps(payload)
    headers = {
        "content-type": "application/json",
        "user-agent": "proctor-notifications",
        "x-proctor-event": str(payload["event"]),
        "x-proctor-delivery": secrets.token_hex(8),
    }
    if config.secret_env is not None:
        secret = _env(config.secret_env, "webhook's signing secret").encode()
        timestamp = int(time.time())
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return await _post(http, config.url, body, headers, config.timeout_s)


async def _slack(config: SlackChannel, note: Note, http: Any) -> str:
    url = _env(config.webhook_url_env, "Slack incoming webhook's URL")
    body = orjson.dumps(note.slack(actions=config.interactive))
    headers = {"content-type": "application/json"}
    return await _post(http, url, body, headers, config.timeout_s)


async def _post(http: Any, url: str, body: bytes, headers: dict[str, str], timeout: float) -> str:
    import httpx2

    try:
        answer = await http.post(url, content=body, headers=headers, timeout=timeout)
    except httpx2.TransportError as exc:
        raise DeliveryFailed(f"cannot reach {_origin(url)}: {type(exc).__name__}: {exc}") from exc
    if not 200 <= answer.status_code < 300:
        raise DeliveryFailed(f"HTTP {answer.status_code} from {_origin(url)}")
    return f"HTTP {answer.status_code}"


def _origin(url: str) -> str:
    """The scheme and host of ``url``: a Slack webhook's path is its secret."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _email(config: EmailChannel, note: Note) -> str:
    message = EmailMessage()
    message["Subject"] = note.subject
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message.set_content(note.text())
    user = None if config.username_env is None else _env(config.username_env, "SMTP user")
    password = None if config.password_env is None else _env(config.password_env, "SMTP password")
    kind = smtplib.SMTP_SSL if config.tls else smtplib.SMTP
    try:
        with kind(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls and not config.tls:
                smtp.starttls()
            if user is not None:
                smtp.login(user, password or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryFailed(
            f"{config.host}:{config.port} offers no STARTTLS ({exc}). Fix: use tls: true on "
            "its TLS port, or starttls: false only on a network you trust"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP {config.host}:{config.port}: {exc}") from exc
    sent = len(config.to) - len(refused)
    return f"SMTP accepted for {sent} of {len(config.to)} recipient(s)"
