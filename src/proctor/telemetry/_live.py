"""Live export: spans leave as the runtime writes each batch of a run's events.

The runtime asks ``live_exporter()`` once per run it drives; ``None`` means export is
off, and its hook is then a single ``is not None`` check. When on, ``LiveExporter.on_flush``
folds each written batch into the run's ``RunSpans`` and hands the spans it finished to a
``BatchSpanProcessor``, whose thread encodes and sends them: the run never waits for the
network. (Folding in a thread of its own was measured too: with the GIL, the hand-off
cost more than the fold, about 25 microseconds per span.) Each ``chat`` span is also
recorded in the GenAI metrics, which the SDK's metric reader sends from its own thread.

A process that meets a run for the first time (a resume, an approval decided in another
process) rebuilds the run's spans from its stored log, without sending what earlier
processes sent, so a run paused in one process and finished in another is still one
trace with one ``invoke_agent`` span. A run's fold is dropped when the run finishes or
waits for a person (it is rebuilt if the run goes on here); at most ``MAX_RUNS`` are kept.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from proctor.errors import MissingExtraError
from proctor.store import EventRow, Store, row_to_event
from proctor.telemetry._config import telemetry_settings
from proctor.telemetry._mapping import RunSpans

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger("proctor.telemetry")

MAX_RUNS = 256
EXIT_WAIT_S = 3.0


class LiveExporter:
    """Turns the batches a run writes into spans, and queues them for export."""

    def __init__(
        self,
        processor: SpanProcessor,
        *,
        capture_content: bool = False,
        abort: Callable[[], None] | None = None,
        metric_reader: MetricReader | None = None,
    ) -> None:
        """``abort`` cuts the exporter's retries short when the process exits;
        ``metric_reader`` (if any) reads the GenAI metrics of the ``chat`` spans."""
        from proctor.telemetry._otel import MeteredSpans, readable, resource

        self._readable = readable
        self.resource = resource()
        """Every span's resource, as the environment described it when export began."""
        self.metrics = None if metric_reader is None else MeteredSpans(metric_reader, self.resource)
        self.processor = processor
        self.capture_content = capture_content
        self.abort = abort
        self._runs: OrderedDict[str, RunSpans] = OrderedDict()
        self._closed = False
        self._warned = False

    async def on_flush(
        self, store: Store, run_id: str, rows: Sequence[EventRow], status: str
    ) -> None:
        """``rows`` were just written to ``run_id``'s log; ``status`` is the run's now.

        Never raises: a failure is logged once and the run goes on unobserved.
        """
        if not rows or self._closed:
            return
        try:
            await self._fold(store, run_id, rows, status)
        except Exception as exc:
            self._runs.pop(run_id, None)
            if not self._warned:
                self._warned = True
                logger.warning("OpenTelemetry export of run %s failed: %r", run_id, exc)

    async def _fold(self, store: Store, run_id: str, rows: Sequence[EventRow], status: str) -> None:
        spans = self._runs.pop(run_id, None)
        first = rows[0].seq
        if spans is None or spans.last_seq != first - 1:
            # Once per run this process meets: its record names the run's session.
            record = await store.get_run(run_id)
            spans = RunSpans(capture_content=self.capture_content, run=record)
            earlier = [row_to_event(row) for row in await store.events(run_id) if row.seq < first]
            spans.feed(earlier, emit=False)
        metrics = self.metrics
        for span in spans.feed([row_to_event(row) for row in rows]):
            self.processor.on_end(self._readable(span, self.resource))
            if metrics is not None:
                metrics.record(span)
        if status == "running":
            self._runs[run_id] = spans
            if len(self._runs) > MAX_RUNS:  # the oldest is rebuilt if it comes back
                self._runs.popitem(last=False)

    def force_flush(self, timeout_ms: int = 30_000) -> bool:
        """Send every queued span (and the metrics so far) now."""
        sent = bool(self.processor.force_flush(timeout_ms))
        return (self.metrics is None or self.metrics.force_flush(timeout_ms)) and sent

    def shutdown(self) -> None:
        """Send what is queued and stop the export threads; later batches are ignored."""
        if not self._closed:
            self._closed = True
            self.processor.shutdown()
            if self.metrics is not None:
                self.metrics.shutdown()

    def close_at_exit(self, wait_s: float = EXIT_WAIT_S) -> None:
        """``shutdown``, but a process that exits waits at most ``wait_s`` for a receiver
        that does not answer (the OTLP exporter alone would retry for its whole timeout)."""
        closing = threading.Thread(target=self.shutdown, name="proctor-otel-exit", daemon=True)
        closing.start()
        closing.join(wait_s)
        if closing.is_alive() and self.abort is not None:
            self.abort()
            closing.join(1.0)


_current: LiveExporter | None = None
_current_key: tuple[str | None, ...] | None = None
_configured = False
_ENV_KEYS = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_METRICS_EXPORTER",
    "PROCTOR_OTEL_CAPTURE_CONTENT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


def live_exporter() -> LiveExporter | None:
    """The exporter runs of this process report to, or ``None`` when export is off.

    Set up by ``configure_live_export``, or else from the environment (see
    ``telemetry_settings``); a changed environment gives a new exporter.
    """
    global _current, _current_key
    if _configured:
        return _current
    key = tuple(os.environ.get(name) for name in _ENV_KEYS)
    if key == _current_key:
        return _current
    _replace(None)
    _current_key = key
    try:
        settings = telemetry_settings()
    except Exception as exc:  # a bad setting must not stop runs; `proctor otel` reports it
        logger.warning("OpenTelemetry export is off: %s", exc)
        return None
    if settings.endpoint is not None:
        try:
            from proctor.telemetry._otel import (
                BatchSpanProcessor,
                QuietExporter,
                otlp_exporter,
                otlp_metric_reader,
            )
        except MissingExtraError as exc:  # as a bad setting: the runs go on, unexported
            logger.warning("OpenTelemetry export is off: %s", exc)
            return None
        exporter = QuietExporter(otlp_exporter(settings.endpoint), settings.endpoint)
        processor = BatchSpanProcessor(exporter)
        reader, abort_metrics = None, None
        if settings.metrics_endpoint is not None:
            reader, abort_metrics = otlp_metric_reader(settings.metrics_endpoint)

        def abort() -> None:  # both exporters' retries, when the process exits
            exporter.abort()
            if abort_metrics is not None:
                abort_metrics()

        live = LiveExporter(
            processor,
            capture_content=settings.capture_content,
            abort=abort,
            metric_reader=reader,
        )
        _replace(live)
    return _current


def configure_live_export(
    exporter: SpanExporter | None = None,
    *,
    capture_content: bool = False,
    processor: SpanProcessor | None = None,
    metric_reader: MetricReader | None = None,
) -> LiveExporter | None:
    """Export this process's runs to ``exporter`` (or through ``processor``), whatever the
    environment says; with neither, turn live export off. ``metric_reader`` (the SDK's
    ``InMemoryMetricReader``, say) reads the GenAI metrics. Returns the new exporter.

    ``reset_live_export()`` goes back to reading the environment.
    """
    global _configured
    if processor is None and exporter is not None:
        from proctor.telemetry._otel import BatchSpanProcessor

        processor = BatchSpanProcessor(exporter)
    _replace(
        None
        if processor is None
        else LiveExporter(processor, capture_content=capture_content, metric_reader=metric_reader)
    )
    _configured = True
    return _current


def reset_live_export() -> None:
    """Flush and drop the current exporter; the environment decides again."""
    global _configured, _current_key
    _replace(None)
    _configured, _current_key = False, None


def _replace(exporter: LiveExporter | None) -> None:
    global _current
    if _current is not None:
        atexit.unregister(_current.close_at_exit)
        _current.close_at_exit()
    _current = exporter
    if exporter is not None:
        atexit.register(exporter.close_at_exit)
