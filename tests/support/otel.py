"""Spans compared field by field, whichever side made them; the CLI run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from proctor.telemetry import SpanData

Shape = tuple[Any, ...]


def shape(span: ReadableSpan | SpanData) -> Shape:
    """Name, ids, times (ns), status, attributes and events of ``span``, as plain values."""
    if isinstance(span, SpanData):
        from proctor.telemetry._otel import readable

        span = readable(span)
    assert span.context is not None
    return (
        span.name,
        f"{span.context.trace_id:032x}",
        f"{span.context.span_id:016x}",
        None if span.parent is None else f"{span.parent.span_id:016x}",
        span.start_time,
        span.end_time,
        span.status.status_code.name,
        span.status.description,
        dict(span.attributes or {}),
        [(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events],
    )


def shapes(spans: Any) -> list[Shape]:
    """The shapes of ``spans``, ordered by span id."""
    return sorted((shape(s) for s in spans), key=lambda s: s[2])


PROCTOR = Path(sys.executable).with_name("proctor")
"""The console script installed next to this interpreter."""


def proctor(
    *args: str, home: Path, otel: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``proctor ARGS`` as a user runs it: only the OpenTelemetry variables in ``otel``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROCTOR_OTEL"))}
    env |= {"PROCTOR_HOME": str(home), "NO_COLOR": "1", **(otel or {})}
    env.pop("PROCTOR_DB", None)
    return subprocess.run(
        [str(PROCTOR), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
