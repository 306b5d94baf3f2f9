"""OTLP trace data as spans: the JSON encoding of ``ExportTraceServiceRequest``.

A file holds one request (``{"resourceSpans": [...]}``), a list of them, or one per line
(what the OpenTelemetry Collector's file exporter writes). Attribute values are typed
``AnyValue`` objects (``{"stringValue": ...}``, ``{"intValue": "42"}``, arrays, key-value
lists); ids are hex, as the OTLP JSON encoding has them, or base64, as protobuf's own JSON
mapping writes them. Field names may be camelCase or snake_case. A protobuf body
(``application/x-protobuf``) is decoded with ``opentelemetry-proto`` (the ``otel`` extra).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from proctor.errors import MissingExtraError
from proctor.evals._traces import TraceFormatError, load_json_items

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_FIX = (
    "export the spans as OTLP JSON (an ExportTraceServiceRequest: "
    '{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}), e.g. with the Collector\'s '
    "file exporter or an OTLP/JSON exporter"
)


@dataclass(kw_only=True)
class SpanEvent:
    name: str
    at: float | None
    attributes: dict[str, Any]


@dataclass(kw_only=True)
class Span:
    """One span, its attributes decoded to plain values."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: float | None
    end: float | None
    attributes: dict[str, Any]
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None
    """The status message of a span whose status is ERROR (``""`` if it has none)."""
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


def _get(obj: dict[str, Any], camel: str) -> Any:
    if camel in obj:
        return obj[camel]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()
    return obj.get(snake)


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain value."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "string_value"):
        if key in value:
            return value[key]
    for key in ("boolValue", "bool_value", "doubleValue", "double_value"):
        if key in value:
            return value[key]
    for key in ("intValue", "int_value"):
        if key in value:
            try:
                return int(value[key])
            except (TypeError, ValueError):
                return value[key]
    array = _get(value, "arrayValue")
    if isinstance(array, dict):
        return [any_value(v) for v in array.get("values") or ()]
    kvlist = _get(value, "kvlistValue")
    if isinstance(kvlist, dict):
        return attributes(kvlist.get("values"))
    raw = _get(value, "bytesValue")
    if isinstance(raw, str):
        return raw
    return None


def attributes(items: Any) -> dict[str, Any]:
    """A list of ``KeyValue`` as a dict."""
    found: dict[str, Any] = {}
    for item in items or ():
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            found[item["key"]] = any_value(item.get("value"))
    return found


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    if _HEX.match(value) and len(value) in (16, 32):
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value


def _seconds(value: Any) -> float | None:
    try:
        nanos = int(value)
    except (TypeError, ValueError):
        return None
    return nanos / 1e9 if nanos > 0 else None


def decode_requests(text: bytes | str, *, where: str) -> list[dict[str, Any]]:
    """The requests a file (or body) holds: one JSON document, a list, or JSON lines."""
    document = load_json_items(text, where=where, fix=_FIX)
    items = document if isinstance(document, list) else [document]
    requests = [item for item in items if isinstance(item, dict) and _get(item, "resourceSpans")]
    if not requests:
        raise TraceFormatError(f"{where}: no resourceSpans found. Fix: {_FIX}")
    return requests


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` in protobuf, as its JSON mapping."""
    try:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError as exc:
        raise MissingExtraError("receiving OTLP protobuf", "otel") from exc
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise TraceFormatError(
            f"the body is not an OTLP ExportTraceServiceRequest in protobuf ({exc}). Fix: "
            "send OTLP/HTTP with Content-Type application/x-protobuf or application/json"
        ) from None
    decoded: dict[str, Any] = MessageToDict(request)
    return decoded


def spans_of(requests: list[dict[str, Any]]) -> list[Span]:
    """Every span of the requests, with its resource's attributes."""
    spans = []
    for request in requests:
        for resource_spans in _get(request, "resourceSpans") or ():
            resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
            for scope_spans in _get(resource_spans, "scopeSpans") or (
                _get(resource_spans, "instrumentationLibrarySpans") or ()
            ):
                scope = _get(scope_spans, "scope") or {}
                for raw in scope_spans.get("spans") or ():
                    if isinstance(raw, dict):
                        spans.append(_span(raw, resource, str(scope.get("name") or "")))
    return spans


def _span(raw: dict[str, Any], resource: dict[str, Any], scope: str) -> Span:
    status = raw.get("status") or {}
    code = status.get("code")
    failed = code in (2, "2", "STATUS_CODE_ERROR")
    return Span(
        trace_id=_id(_get(raw, "traceId")),
        span_id=_id(_get(raw, "spanId")),
        parent_id=_id(_get(raw, "parentSpanId")) or None,
        name=str(raw.get("name") or ""),
        start=_seconds(_get(raw, "startTimeUnixNano")),
        end=_seconds(_get(raw, "endTimeUnixNano")),
        attributes=attributes(raw.get("attributes")),
        events=[
            SpanEvent(
                name=str(event.get("name") or ""),
                at=_seconds(_get(event, "timeUnixNano")),
                attributes=attributes(event.get("attributes")),
            )
            for event in raw.get("events") or ()
            if isinstance(event, dict)
        ],
        error=str(status.get("message") or "") if failed else None,
        resource=resource,
        scope=scope,
    )
