"""``SpanData`` to OpenTelemetry SDK spans, and the OTLP/HTTP exporter.

Imported only when spans are exported: the SDK and the exporter cost tens of
milliseconds to import, which ``proctor run`` without telemetry does not pay. They come
with the otel extra; without it, importing this module raises ``MissingExtraError``.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from proctor.errors import DISTRIBUTION, needs_extra
from proctor.telemetry._config import ENDPOINT, TRACES_ENDPOINT, ExportError
from proctor.telemetry._spans import SpanData

with needs_extra("OpenTelemetry export"):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
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


class _Capture(logging.Handler):
    """Keeps the exporter's complaints, to report their cause in one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

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


@contextmanager
def exporter_complaints() -> Iterator[_Capture]:
    """Collect the OTLP exporter's log records instead of printing them."""
    logger = logging.getLogger(_EXPORTER_LOGGER)
    capture = _Capture()
    propagate = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate


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
