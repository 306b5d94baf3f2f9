"""``proctor.yaml``'s ``notifications:``: where pending approvals are announced.

Example::

    notifications:
      base_url: https://proctor.example.com      # links in messages open the approval here
      channels:
        ops: {webhook: {url: https://hooks.example.com/proctor, secret_env: HOOK_SECRET}}
        finance: {email: {host: smtp.example.com, sender: proctor@example.com,
                          to: [finance@example.com], username_env: SMTP_USER,
                          password_env: SMTP_PASSWORD}}
        team: {slack: {webhook_url_env: SLACK_WEBHOOK_URL,
                       signing_secret_env: SLACK_SIGNING_SECRET,   # Approve/Deny buttons
                       approvers: {U024BE7LH: alice@example.com}}}
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


class SlackApprover(_Strict):
    """Who a Slack user is in Proctor, when they decide from Slack: the identity their
    decision is recorded under (separation of duties compares it with who started the
    run), and the one tenant whose approvals they may decide."""

    identity: str = Field(min_length=1, max_length=200)
    tenant: str = "default"

    @model_validator(mode="before")
    @classmethod
    def _just_an_identity(cls, value: object) -> object:
        return {"identity": value} if isinstance(value, str) else value


class SlackChannel(_Strict):
    """A message to a Slack incoming webhook (its URL is a secret: kept in a variable).

    With a Slack app's signing secret, approval messages carry Approve and Deny buttons;
    `proctor serve` takes the clicks at ``/integrations/slack/actions`` (the app's
    interactivity Request URL), checks Slack's signature, and decides as the approver
    the clicking user is mapped to. Users not in ``approvers`` are refused.
    """

    webhook_url_env: str
    timeout_s: PositiveFloat = 5.0
    signing_secret_env: str | None = None
    """The variable holding the Slack app's signing secret (its Basic Information page)."""
    approvers: dict[str, SlackApprover] = Field(default_factory=dict)
    """Slack user ids (``U...``) who may decide from Slack, and who each is in Proctor."""

    @model_validator(mode="after")
    def _approvers_need_the_secret(self) -> SlackChannel:
        if self.approvers and self.signing_secret_env is None:
            raise ValueError(
                "approvers decide through Slack's buttons, which need the app's signing "
                "secret: add signing_secret_env: NAME_OF_THE_VARIABLE"
            )
        return self

    @property
    def interactive(self) -> bool:
        """Whether its messages carry Approve and Deny buttons."""
        return self.signing_secret_env is not None


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
    poll_s: PositiveFloat = Field(default=5.0, le=3600)
    """How often `proctor serve` (and `proctor notify run`) looks for what to announce."""
    announce_within_s: PositiveFloat = 86_400.0
    """Runs started this recently that end escalated are announced, and decisions made
    this recently are announced where their request was (a day)."""

    @model_validator(mode="after")
    def _defaults_are_channels(self) -> NotificationsConfig:
        for name in self.default:
            if name not in self.channels:
                known = ", ".join(sorted(self.channels)) or "none"
                raise ValueError(f"default names channel {name!r}, which is not defined ({known})")
        return self
