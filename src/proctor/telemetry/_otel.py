"""``SpanData`` to OpenTelemetry SDK spans, the OTLP/HTTP exporters, and the meter
provider of the GenAI metrics.

Imported only when spans are exported: the SDK and the exporter cost tens of
milliseconds to import, which ``proctor run`` without telemetry does not pay. They come
with the otel extra; without it, importing this module raises ``MissingExtraError``.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from proctor.errors import DISTRIBUTION, needs_extra
from proctor.telemetry._config import ENDPOINT, TRACES_ENDPOINT, ExportError
from proctor.telemetry._metrics import GenAIMetrics
from proctor.telemetry._spans import SpanData

with needs_extra("OpenTelemetry export"):
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        MetricReader,
        MetricsData,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import BatchSpanProcessor as BatchSpanProcessor  # for _live
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_KINDS = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}
_EXPORTER_LOGGER = "opentelemetry.exporter.otlp"
_STATUS = re.compile(r"code: (\d{3}), reason: ([^,]*)")


def resource() -> Resource:
    """``service.name`` and friends from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``
    (read now); the service is ``proctor`` unless they name one."""
    detected = Resource.create()
    name = str(detected.attributes.get("service.name", ""))
    if name.startswith("unknown_service"):
        detected = detected.merge(Resource({"service.name": "proctor"}))
    return detected


@cache
def scope() -> InstrumentationScope:
    try:
        release = version(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        release = "0"
    return InstrumentationScope("proctor", release)


def readable(span: SpanData, owner: Resource | None = None) -> ReadableSpan:
    """The SDK span for ``span``, with its recorded ids and times, from ``owner`` (default:
    the resource the environment describes)."""
    trace_id = int(span.trace_id, 16)
    parent = None
    if span.parent_span_id is not None:
        parent = SpanContext(trace_id, int(span.parent_span_id, 16), False, _SAMPLED)
    status = Status(StatusCode.ERROR, span.error) if span.error is not None else Status()
    return ReadableSpan(
        name=span.name,
        context=SpanContext(trace_id, int(span.span_id, 16), False, _SAMPLED),
        parent=parent,
        resource=owner if owner is not None else resource(),
        attributes=span.attributes,
        events=[Event(e.name, e.attributes, timestamp=round(e.ts * 1e9)) for e in span.events],
        kind=_KINDS[span.kind],
        status=status,
        start_time=round(span.start * 1e9),
        end_time=round(span.end * 1e9),
        instrumentation_scope=scope(),
    )


def otlp_exporter(endpoint: str, *, timeout_s: float | None = None) -> SpanExporter:
    """The OTLP/HTTP exporter; headers, compression and TLS from ``OTEL_EXPORTER_OTLP_*``."""
    return OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s)


class QuietExporter(SpanExporter):
    """Live export's exporter: a failure is one line on ``proctor.telemetry``'s logger
    (the first as a warning), not the OTLP exporter's line per retry; and its retries can
    be cut short when the process exits."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.failures = 0
        self._stopped = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with exporter_complaints() as complaints:
            result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.failures += 1
            logging.getLogger("proctor.telemetry").log(
                logging.WARNING if self.failures == 1 else logging.DEBUG,
                "OpenTelemetry export to %s failed (%s): %d span(s) not sent; "
                "`proctor otel export` sends finished runs again",
                self.endpoint,
                complaints.cause(),
                len(spans),
            )
        return result

    def abort(self) -> None:
        """Stop retrying now (the process is exiting)."""
        self.shutdown()

    def shutdown(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def check_reachable(endpoint: str, *, timeout_s: float = 3.0) -> None:
    """Fail fast, with a fix, when nothing listens at ``endpoint``'s host and port."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExportError(
            f"the OTLP endpoint {endpoint!r} is not an http(s) URL. Fix: set {ENDPOINT} "
            f"(base URL) or {TRACES_ENDPOINT} (full traces URL), e.g. http://127.0.0.1:4318"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"cannot reach the OTLP endpoint {endpoint}: {reason.lower()}. Fix: start the "
            f"receiver, or point the endpoint ({ENDPOINT}, or --endpoint) at it"
        ) from None


class MeteredSpans:
    """GenAI metrics (``GenAIMetrics``) on a meter provider of their own, read by
    ``reader``: what live export records its ``chat`` spans in."""

    def __init__(self, reader: MetricReader, owner: Resource) -> None:
        # Shut down with the live exporter (bounded at exit), not by the SDK's own hook.
        self.provider = MeterProvider([reader], resource=owner, shutdown_on_exit=False)
        self.metrics = GenAIMetrics(self.provider.get_meter("proctor", scope().version))
        self.record = self.metrics.record

    def force_flush(self, timeout_ms: int = 30_000) -> bool:
        return bool(self.provider.force_flush(timeout_ms))

    def shutdown(self) -> None:
        self.provider.shutdown()


def otlp_metric_reader(endpoint: str) -> tuple[MetricReader, Callable[[], None]]:
    """A reader that sends the metrics to ``endpoint`` every ``OTEL_METRIC_EXPORT_INTERVAL``
    ms (default 60 s) and at shutdown (headers, TLS and temporality from
    ``OTEL_EXPORTER_OTLP_*``), and what stops its exporter's retries when the process exits."""
    exporter = QuietMetricExporter(OTLPMetricExporter(endpoint), endpoint)
    return PeriodicExportingMetricReader(exporter), exporter.abort


class QuietMetricExporter(MetricExporter):
    """The metric exporter, one line on a failure (a trace backend such as Phoenix takes
    no metrics: the line says how to stop sending them)."""

    def __init__(self, inner: OTLPMetricExporter, endpoint: str) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.endpoint = endpoint
        self.failures = 0
        self._stopped = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        with exporter_complaints() as complaints:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        if result is not MetricExportResult.SUCCESS:
            self.failures += 1
            logging.getLogger("proctor.telemetry").log(
                logging.WARNING if self.failures == 1 else logging.DEBUG,
                "OpenTelemetry metric export to %s failed (%s); if the receiver takes no "
                "metrics, set OTEL_METRICS_EXPORTER=none",
                self.endpoint,
                complaints.cause(),
            )
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

    def abort(self) -> None:
        """Stop retrying now (the process is exiting)."""
        self.shutdown()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        if not self._stopped:
            self._stopped = True
            self.inner.shutdown(timeout_millis)


class _Capture:
    """Keeps one export's complaints, to report their cause in one line."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def cause(self) -> str:
        """The most telling complaint: refused, an HTTP status, a timeout, or the last."""
        text = " ".join(self.messages)
        status = _STATUS.search(text)
        if status is not None:
            return f"HTTP {status[1]} {status[2]}".strip()
        for marker in ("Connection refused", "Name or service not known", "timed out"):
            if marker in text:
                return marker.lower()
        return self.messages[-1] if self.messages else "no detail"


class _Complaints(logging.Handler):
    """The OTLP exporters' logger's handler while an export runs: each record goes to the
    capture of the thread that logged it (spans and metrics export from threads of their
    own, perhaps at once)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()
        self.guard = threading.Lock()
        self.users = 0
        self.propagate = True

    def emit(self, record: logging.LogRecord) -> None:
        capture: _Capture | None = getattr(self.local, "capture", None)
        if capture is not None:
            capture.messages.append(record.getMessage())


_COMPLAINTS = _Complaints()


@contextmanager
def exporter_complaints() -> Iterator[_Capture]:
    """Collect the OTLP exporters' log records in this thread instead of printing them."""
    logger = logging.getLogger(_EXPORTER_LOGGER)
    capture = _Capture()
    _COMPLAINTS.local.capture = capture
    with _COMPLAINTS.guard:
        if _COMPLAINTS.users == 0:
            _COMPLAINTS.propagate = logger.propagate
            logger.addHandler(_COMPLAINTS)
            logger.propagate = False
        _COMPLAINTS.users += 1
    try:
        yield capture
    finally:
        _COMPLAINTS.local.capture = None
        with _COMPLAINTS.guard:
            _COMPLAINTS.users -= 1
            if _COMPLAINTS.users == 0:
                logger.removeHandler(_COMPLAINTS)
                logger.propagate = _COMPLAINTS.propagate


def send(exporter: SpanExporter, spans: Sequence[SpanData], endpoint: str, owner: Resource) -> None:
    """Export ``spans`` now, in batches; raise ``ExportError`` if the endpoint refuses."""
    batch = 512
    with exporter_complaints() as complaints:
        for start in range(0, len(spans), batch):
            chunk = [readable(s, owner) for s in spans[start : start + batch]]
            if exporter.export(chunk) is not SpanExportResult.SUCCESS:
                raise ExportError(
                    f"the OTLP endpoint {endpoint} did not accept the spans "
                    f"({complaints.cause()}). "
                    "Fix: check that it is an OTLP/HTTP traces endpoint (usually "
                    "http://HOST:4318/v1/traces) and that its headers "
                    "(OTEL_EXPORTER_OTLP_HEADERS) are right"
                )
