"""An OpenAI-compatible API's HTTP error answers as ``ModelCallError`` kinds a router acts on.

Part of the wire format (``wire`` re-exports it): both clients pass what they received,
status, headers and the parsed ``error`` object, so one classification serves both.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import UTC

from proctor.gateway._errors import ErrorKind, ModelCallError

# How providers word "the prompt does not fit" when they send no OpenAI error code
# (vLLM, Ollama, Anthropic-compatible proxies, older OpenAI messages).
_TOO_LONG = re.compile(
    r"context[ _]length|context window|maximum context|too many tokens|prompt is too long",
    re.IGNORECASE,
)


def status_error(
    status: int,
    headers: Mapping[str, str],
    body: object,
    *,
    where: str,
    base_url: str,
    api_key_env: str,
) -> ModelCallError:
    """Classify an HTTP error answer; the message names the model and says what to check.

    ``body`` is the answer's ``error`` object (or the whole body, parsed, if it has none);
    ``where`` names the model and endpoint, e.g. ``model 'gpt-4o' at https://...``.
    """
    detail = _detail(body)
    kind: ErrorKind
    after: float | None = None
    if status == 401:
        kind = "auth"
        message = (
            f"{where} rejected the API key (HTTP 401{detail}): set a valid key in {api_key_env}"
        )
    elif status == 403:
        kind = "auth"
        message = f"{where} refused access (HTTP 403{detail}): the key lacks permission"
    elif status == 404:
        kind = "not_found"
        message = (
            f"{where}: model not found (HTTP 404{detail}): check the model name "
            f"(GET {base_url}/models lists them) and the base URL"
        )
    elif status == 429:
        kind = "rate_limited"
        after = retry_after_s(headers)
        wait = f"; retry after {round(after, 1):g}s" if after is not None else ""
        message = (
            f"{where} is rate limited (HTTP 429{detail}){wait}: lower the request rate, "
            f"raise max_retries, or check the account's quota"
        )
    elif status == 408:  # the server gave up waiting for us: as retryable as our own timeout
        kind = "timeout"
        message = f"{where} timed out the request (HTTP 408{detail}); try again"
    elif status >= 500:
        kind = "server_error"
        message = (
            f"{where} had a server error (HTTP {status}{detail}): the provider failed, "
            f"not the request; try again later or raise max_retries"
        )
    elif status in (400, 413) and _too_long(body, detail):
        kind = "context_length"
        message = (
            f"{where} says the conversation does not fit its context window "
            f"(HTTP {status}{detail}): route to a model with a larger context window, "
            f"or compact the conversation"
        )
    else:
        kind = "bad_request"
        message = f"{where} refused the request (HTTP {status}{detail})"
    return ModelCallError(message, kind=kind, status=status, retry_after_s=after)


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds a provider asks us to wait: ``retry-after-ms``, else ``Retry-After``.

    ``Retry-After`` is either seconds or an HTTP date (RFC 9110); ``now`` is the
    wall-clock time to measure a date against (default: the current time).
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass  # fall through to Retry-After
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass  # not seconds: an HTTP date
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None  # unreadable: as if the provider had not said
    if when.tzinfo is None:  # an HTTP date is always GMT; some servers omit the zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _too_long(body: object, detail: str) -> bool:
    """Whether a 400/413 says the prompt exceeds the context window."""
    code = body.get("code") if isinstance(body, dict) else None
    return code == "context_length_exceeded" or bool(_TOO_LONG.search(detail))


def _detail(body: object) -> str:
    """The provider's own error message, if it sent one in OpenAI's shape."""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {message}" if isinstance(message, str) and message else ""
