"""What went wrong with a model call, in terms a router can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

from proctor.errors import ModelError

if TYPE_CHECKING:
    from proctor.store import EventData

ErrorKind: TypeAlias = Literal[
    "timeout",
    "connection",
    "rate_limited",
    "server_error",
    "context_length",
    "auth",
    "not_found",
    "bad_request",
    "invalid_response",
    "truncated",
    "budget",
]

RETRYABLE: frozenset[ErrorKind] = frozenset(
    {"timeout", "connection", "rate_limited", "server_error"}
)
"""Worth the same deployment again after a backoff."""

NO_FALLBACK: frozenset[ErrorKind] = frozenset({"bad_request", "budget"})
"""The request itself is at fault: another deployment would refuse it too."""


class ModelCallError(ModelError):
    """A provider call failed; ``kind`` says how, so the router can retry or fall back.

    ``retry_after_s`` carries the provider's ``Retry-After`` when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class GatewayError(ModelError):
    """Every deployment of a route failed (or the call was refused before sending).

    ``events`` records each attempt, retry and fallback, so the caller can log them.
    """

    def __init__(
        self, message: str, *, events: Sequence[EventData] = (), kind: ErrorKind | None = None
    ) -> None:
        super().__init__(message)
        self.events: tuple[EventData, ...] = tuple(events)
        self.kind = kind


class RateLimitExceeded(ModelCallError):
    """A rate limit (``limit``: ``rpm`` or ``tpm``) of ``scope`` would not free capacity in time.

    Raised by a ``RateLimiter`` before anything is sent; ``retry_in_s`` says when it would.
    """

    def __init__(self, message: str, *, scope: str, limit: str, retry_in_s: float) -> None:
        super().__init__(message, kind="rate_limited", retry_after_s=retry_in_s)
        self.scope = scope
        self.limit = limit
        self.retry_in_s = retry_in_s
