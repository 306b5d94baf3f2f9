"""Times as every JSON output writes them: the HTTP API, receipts and ``proctor ... --json``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(ts: float) -> str:
    """Epoch seconds as ISO 8601 in UTC with milliseconds, e.g. ``2026-11-24T09:30:00.123Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(ts: float | None) -> str | None:
    """``iso_time`` of a time that may be missing (a run not finished, a key not revoked)."""
    return None if ts is None else iso_time(ts)
