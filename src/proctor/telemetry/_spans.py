"""Spans as plain values, and the ids they carry.

The mapping from a run's events produces ``SpanData``: no OpenTelemetry object, so the
mapping is pure, cheap to test, and importing it costs nothing. ``_otel`` turns these
values into SDK spans only when something is exported.

Ids come from the run's log. The trace id is the run's recorded trace id and the
``invoke_agent`` span id its root span id; a ``chat`` span takes its ``model_called``
event's span id. Tool events are keyed by the model's call id (``call_abc``), which is
not an OpenTelemetry span id, so an ``execute_tool`` span id is derived from the trace id
and the call id. Every id is therefore the same whenever the same log is exported, live
or in a batch, by any process.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

AttributeValue = str | bool | int | float | list[str]
Attributes = dict[str, AttributeValue]
SpanKind = Literal["internal", "client"]

_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SpanEvent:
    """A point in time on a span: a policy decision, an approval, an escalation..."""

    name: str
    ts: float
    """Epoch seconds, from the event that it records."""
    attributes: Attributes = field(default_factory=dict)


@dataclass(kw_only=True, slots=True)
class SpanData:
    """One finished span, with hex ids and epoch-second times."""

    name: str
    trace_id: str
    """32 lowercase hex digits."""
    span_id: str
    """16 lowercase hex digits."""
    parent_span_id: str | None
    kind: SpanKind
    start: float
    end: float
    attributes: Attributes = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None
    """Set when the operation ended in an error: the span's status is ERROR with this text."""


def trace_id_of(recorded: str) -> str:
    """The OpenTelemetry trace id for a run's recorded trace id (itself, when valid)."""
    if _TRACE_ID.fullmatch(recorded) and recorded != "0" * 32:
        return recorded
    return _derived(recorded, 32)


def span_id_of(trace_id: str, recorded: str) -> str:
    """The span id for a recorded span id: itself when it is a valid one, else derived."""
    if _SPAN_ID.fullmatch(recorded) and recorded != "0" * 16:
        return recorded
    return derived_span_id(trace_id, recorded)


def derived_span_id(trace_id: str, key: str) -> str:
    """A stable span id for ``key`` (a tool call id, say) within one trace."""
    return _derived(f"{trace_id}/{key}", 16)


def _derived(text: str, digits: int) -> str:
    value = hashlib.sha256(text.encode()).hexdigest()[:digits]
    return value if value.strip("0") else "1".rjust(digits, "0")
