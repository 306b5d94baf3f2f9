"""Signing webhook deliveries, and checking a signature on the receiving side.

The signature is ``sha256=`` and the hex HMAC-SHA256 of ``"{timestamp}.{body}"`` under the
channel's secret, in ``X-Proctor-Signature``; the timestamp (epoch seconds) is in
``X-Proctor-Timestamp``. Signing the time with the body lets a receiver refuse a replayed
delivery (``verify_signature``'s ``tolerance_s``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Proctor-Signature"
TIMESTAMP_HEADER = "X-Proctor-Timestamp"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Proctor-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether a delivery (its raw ``body`` and ``headers``) was signed with ``secret``
    within ``tolerance_s`` of ``now``: what a receiver checks before trusting it."""
    lowered = {name.lower(): value for name, value in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        timestamp = int(lowered.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))
