"""``proctor.yaml``'s ``notifications:``: where pending approvals are announced.

Example::

    notifications:
      base_url: https://proctor.example.com      # links in messages open the approval here
      channels:
        ops: {webhook: {url: https://hooks.example.com/proctor, secret_env: HOOK_SECRET}}
        finance: {email: {host: smtp.example.com, sender: proctor@example.com,
                          to: [finance@example.com], username_env: SMTP_USER,
                          password_env: SMTP_PASSWORD}}
        team: {slack: {webhook_url_env: SLACK_WEBHOOK_URL}}
      default: [ops]            # for approval rules that name no channel (notify:)

The sending lives in ``proctor.notifications``; this is only what the file may say.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Strict):
    """A signed JSON POST (``X-Proctor-Signature``: HMAC-SHA256 of timestamp and body)."""

    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = None
    """The variable holding the signing secret; without it, requests are unsigned."""
    timeout_s: PositiveFloat = 5.0


class EmailChannel(_Strict):
    """An e-mail over SMTP (STARTTLS unless ``starttls: false``, or TLS from the start)."""

    host: str
    port: PositiveInt = 587
    starttls: bool = True
    tls: bool = False
    """TLS from the first byte (port 465), instead of STARTTLS."""
    username_env: str | None = None
    password_env: str | None = None
    sender: str
    to: list[str] = Field(min_length=1)
    timeout_s: PositiveFloat = 10.0


class SlackChannel(_Strict):
    """A message to a Slack incoming webhook (its URL is a secret: kept in a variable)."""

    webhook_url_env: str
    timeout_s: PositiveFloat = 5.0


class ChannelConfig(_Strict):
    """One channel: exactly one of ``webhook``, ``email`` or ``slack``."""

    webhook: WebhookChannel | None = None
    email: EmailChannel | None = None
    slack: SlackChannel | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ChannelConfig:
        kinds = [k for k in ("webhook", "email", "slack") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of webhook, email or slack")
        return self

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook else "email" if self.email else "slack"


class NotificationsConfig(_Strict):
    """Where pending approvals are announced, and how hard delivery tries."""

    base_url: str = Field(default="http://127.0.0.1:8700", pattern=r"^https?://")
    """Where `proctor serve` is reached: messages link to ``{base_url}/ui/approvals``."""
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    default: list[str] = Field(default_factory=list)
    """Channels for approvals whose contract rule names none (``notify:``)."""
    max_attempts: PositiveInt = 8
    """Tries per approval and channel before giving up (each logged)."""
    retry_after_s: PositiveFloat = 5.0
    """The wait after the first failure; it doubles after each one (at most an hour)."""
    escalations_within_s: PositiveFloat = 86_400.0
    """Runs started this recently that end escalated are announced too (a day)."""

    @model_validator(mode="after")
    def _defaults_are_channels(self) -> NotificationsConfig:
        for name in self.default:
            if name not in self.channels:
                known = ", ".join(sorted(self.channels)) or "none"
                raise ValueError(f"default names channel {name!r}, which is not defined ({known})")
        return self
