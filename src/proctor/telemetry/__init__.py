"""Telemetry layer: runs exported as OpenTelemetry traces (GenAI semantic conventions).

A view over the store, like the audit layer: spans are made from a run's events, with
the run's recorded trace and span ids and the events' times, so live export (as the
runtime writes each batch) and batch export (``proctor otel export``) send the same spans.
Importing this package does not import the OpenTelemetry SDK; exporting does.
See docs/telemetry.md for the mapping and the settings.
"""

from __future__ import annotations

from proctor.telemetry._attributes import CONTENT_ATTRIBUTES
from proctor.telemetry._batch import (
    ExportReport,
    RunSelection,
    export_runs,
    parse_since,
    run_spans,
    select_runs,
)
from proctor.telemetry._calls import CallSpans, call_span, gateway_call_spans
from proctor.telemetry._config import (
    NO_ENDPOINT,
    ExportError,
    TelemetrySettings,
    telemetry_settings,
)
from proctor.telemetry._live import (
    LiveExporter,
    configure_live_export,
    live_exporter,
    reset_live_export,
)
from proctor.telemetry._mapping import RunSpans, spans_for_run
from proctor.telemetry._spans import SpanData, SpanEvent

__all__ = [
    "CONTENT_ATTRIBUTES",
    "NO_ENDPOINT",
    "CallSpans",
    "ExportError",
    "ExportReport",
    "LiveExporter",
    "RunSelection",
    "RunSpans",
    "SpanData",
    "SpanEvent",
    "TelemetrySettings",
    "call_span",
    "configure_live_export",
    "export_runs",
    "gateway_call_spans",
    "live_exporter",
    "parse_since",
    "reset_live_export",
    "run_spans",
    "select_runs",
    "spans_for_run",
    "telemetry_settings",
]
