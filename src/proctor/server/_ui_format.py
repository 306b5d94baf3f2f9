"""How figures read on the UI's pages: money, durations, times, rates, badges."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

BADGE_LABELS = {
    "resolved": "resolved",
    "escalated": "escalated",
    "failed": "failed",
    "draft_only": "draft only",
    "cancelled": "cancelled",
    "awaiting_approval": "awaiting approval",
    "running": "running",
    "finished": "finished",
}


def money(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}"
    if abs(value) < 10:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def seconds(value: float | None) -> str:
    """A duration in seconds, in the unit that reads best."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    if value < 7200:
        return f"{value // 60:.0f} min {value % 60:.0f} s"
    return f"{value // 3600:.0f} h {value % 3600 // 60:.0f} min"


def millis(value: float | None) -> str:
    return "—" if value is None else seconds(value / 1000)


def when(ts: float | None) -> str:
    """An epoch time as UTC, to the second (the header says the zone)."""
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def count(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def per_run(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def pretty_json(value: Any) -> str:
    """Indented JSON of a stored payload (escaped by the template like any text)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


FILTERS = {
    "money": money,
    "seconds": seconds,
    "millis": millis,
    "when": when,
    "iso": iso,
    "count": count,
    "rate": rate,
    "per_run": per_run,
    "pretty_json": pretty_json,
    "badge_label": lambda key: BADGE_LABELS.get(key, str(key).replace("_", " ")),
}
