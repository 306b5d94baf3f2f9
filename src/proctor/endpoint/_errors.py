"""The endpoint's failures as answers in OpenAI's error shape, with OpenAI's status codes.

The official clients raise their usual exceptions on them: a 429 with ``retry-after``
is retried, a 400 is not. ``api_error`` maps any failure of a request (the caller's, a
limit's, the upstreams', a bug) to one ``ApiError``.
"""

from __future__ import annotations

import logging
import math

from starlette.responses import Response

from proctor.endpoint._wire import WireError, error
from proctor.errors import ConfigError
from proctor.gateway import GatewayError, RateLimitExceeded
from proctor.store import ModelAttemptFailed

logger = logging.getLogger("proctor.gateway.http")

JSON = "application/json"


class ApiError(Exception):
    """An answer in OpenAI's error shape: status, message, type, code, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code
        self.retry_after_s = retry_after_s
        self.headers: dict[str, str] = {}
        """More headers of the answer (the key's ``x-ratelimit-*``)."""

    @property
    def retryable(self) -> bool:
        """Whether a client should try again: only a rate limit that passes. A budget spent,
        a bad request or a route that failed after the gateway's own retries and
        fallbacks would fail again (or multiply the calls upstream)."""
        return self.status == 429 and self.code != "budget_exceeded"

    def response(self, request_id: str | None = None) -> Response:
        headers = {**self.headers, "x-should-retry": "true" if self.retryable else "false"}
        if request_id is not None:
            headers["x-request-id"] = request_id
        if self.retry_after_s is not None:
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after_s)))
        return Response(
            error(self.message, self.kind, self.code), self.status, headers, media_type=JSON
        )


def bad_request(message: str, code: str | None = None) -> ApiError:
    return ApiError(400, message, kind="invalid_request_error", code=code)


def gateway_error(exc: GatewayError) -> ApiError:
    """A failed route call as an answer: the client's fault, a limit, or the upstreams'."""
    kind = exc.kind
    if kind == "budget":
        return ApiError(429, str(exc), kind="insufficient_quota", code="budget_exceeded")
    if kind == "bad_request":
        return bad_request(str(exc))
    if kind == "context_length":
        return bad_request(str(exc), code="context_length_exceeded")
    if kind == "rate_limited":
        waits = [
            e.retry_after_s
            for e in exc.events
            if isinstance(e, ModelAttemptFailed) and e.retry_after_s is not None
        ]
        return ApiError(
            429,
            str(exc),
            kind="rate_limit_error",
            code="upstream_rate_limited",
            retry_after_s=min(waits) if waits else None,
        )
    return ApiError(502, str(exc), kind="upstream_error", code=kind)


def api_error(exc: Exception) -> ApiError:
    """Any failure of a request as its answer; an unexpected one is logged (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, WireError | ConfigError):  # ConfigError: a tool name upstreams refuse
        return bad_request(str(exc))
    if isinstance(exc, RateLimitExceeded):  # the key's own limit, before anything is sent
        return ApiError(
            429,
            str(exc),
            kind="rate_limit_error",
            code="rate_limit_exceeded",
            retry_after_s=exc.retry_in_s,
        )
    if isinstance(exc, GatewayError):
        return gateway_error(exc)
    logger.exception("the gateway endpoint failed on a request")
    return ApiError(
        500,
        f"internal error in the gateway: {type(exc).__name__}: {exc}",
        kind="server_error",
    )
