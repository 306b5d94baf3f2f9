"""GenAI client metrics: recorded from live export's ``chat`` spans, sent over OTLP."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proctor.store import GatewayCallRecord, ModelCalled, Store, row_to_event
from proctor.telemetry import (
    call_span,
    configure_live_export,
    live_exporter,
    reset_live_export,
    spans_for_run,
    telemetry_settings,
)
from proctor.telemetry._metrics import DURATION_BUCKETS, TOKEN_BUCKETS, GenAIMetrics
from support.invoice_runs import approved_run
from support.run_log import Log, called, started


def points(reader: InMemoryMetricReader, name: str) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    found = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]
    assert all(isinstance(p, HistogramDataPoint) for p in found)
    return found  # type: ignore[return-value]


def attrs(point: HistogramDataPoint) -> dict[str, Any]:
    return dict(point.attributes or {})


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    memory = InMemoryMetricReader()
    configure_live_export(
        processor=SimpleSpanProcessor(InMemorySpanExporter()), metric_reader=memory
    )
    try:
        yield memory
    finally:
        reset_live_export()


async def test_each_model_call_is_measured_as_the_conventions_say(
    store: Store, reader: InMemoryMetricReader
) -> None:
    run_id = await approved_run(store)  # the procedure model's calls and a checker verdict

    events = [row_to_event(row) for row in await store.events(run_id)]
    calls = [e.data for e in events if isinstance(e.data, ModelCalled)]
    durations = points(reader, "gen_ai.client.operation.duration")
    by_model = {attrs(p)["gen_ai.response.model"]: p for p in durations}
    assert set(by_model) == {"scripted:procedure", "scripted:checker"}
    procedure = by_model["scripted:procedure"]
    assert procedure.count == len(calls)
    # The span's length, from epoch-second times: exact to a microsecond or so.
    assert procedure.sum == pytest.approx(sum(c.latency_ms for c in calls) / 1000, abs=1e-5)
    assert tuple(procedure.explicit_bounds) == DURATION_BUCKETS
    assert attrs(procedure) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "proctor.scripted",
        "gen_ai.request.model": "scripted:procedure",
        "gen_ai.response.model": "scripted:procedure",
    }
    tokens = {
        attrs(p)["gen_ai.token.type"]: p
        for p in points(reader, "gen_ai.client.token.usage")
        if attrs(p)["gen_ai.response.model"] == "scripted:procedure"
    }
    assert tokens["input"].sum == sum(c.usage.input_tokens for c in calls)
    assert tokens["output"].sum == sum(c.usage.output_tokens for c in calls)
    assert tokens["input"].count == tokens["output"].count == len(calls)
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS


def test_metrics_go_where_the_standard_variables_say() -> None:
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318/"}
    assert telemetry_settings(base).metrics_endpoint == "http://otel:4318/v1/metrics"
    full = base | {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9090/otlp"}
    assert telemetry_settings(full).metrics_endpoint == "http://m:9090/otlp"
    off = base | {"OTEL_METRICS_EXPORTER": "none"}
    assert telemetry_settings(off).metrics_endpoint is None
    assert telemetry_settings(off).endpoint == "http://otel:4318/v1/traces"
    traces_only = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces"}
    assert telemetry_settings(traces_only).metrics_endpoint is None
    # Metrics go with live span export: no spans, no metrics.
    assert telemetry_settings(base | {"OTEL_SDK_DISABLED": "true"}).metrics_endpoint is None


class _Receiver(BaseHTTPRequestHandler):
    status = 200
    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.bodies.append((self.path, body))
        self.send_response(self.status if self.path == "/v1/metrics" else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Handler", (_Receiver,), {"bodies": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_reach_an_otlp_receiver(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    reset_live_export()
    try:
        exporter = live_exporter()
        assert exporter is not None
        assert exporter.metrics is not None
        log = Log()
        log.add(started())
        log.add(called(1, model="gpt-4o-mini"))
        for span in spans_for_run(log.events):
            exporter.metrics.record(span)
        assert exporter.force_flush(5_000)
    finally:
        reset_live_export()

    sent = [body for path, body in handler.bodies if path == "/v1/metrics"]
    assert sent
    request = ExportMetricsServiceRequest()
    request.ParseFromString(sent[0])
    metrics = {
        m.name: m for r in request.resource_metrics for s in r.scope_metrics for m in s.metrics
    }
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= set(metrics)
    tokens = metrics["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    sums = {
        next(a.value.string_value for a in p.attributes if a.key == "gen_ai.token.type"): p.sum
        for p in tokens.histogram.data_points
    }
    assert sums == {"input": 100, "output": 10}  # the call's usage
    assert metrics["gen_ai.client.operation.duration"].unit == "s"


def test_a_receiver_that_takes_no_metrics_is_one_warning(
    monkeypatch: pytest.MonkeyPatch,
    receiver: tuple[str, type[_Receiver]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, handler = receiver
    handler.status = 404  # a trace backend, Phoenix say
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    reset_live_export()
    try:
        exporter = live_exporter()
        assert exporter is not None
        assert exporter.metrics is not None
        log = Log()
        log.add(started())
        log.add(called(1))
        for span in spans_for_run(log.events):
            exporter.metrics.record(span)
        exporter.force_flush(5_000)
    finally:
        reset_live_export()

    mine = [r for r in caplog.records if r.name == "proctor.telemetry"]
    assert [r.levelname for r in mine if r.levelno >= logging.WARNING] == ["WARNING"]
    assert f"metric export to {url}/v1/metrics failed (HTTP 404" in mine[0].message
    assert "OTEL_METRICS_EXPORTER=none" in mine[0].message
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


def test_a_failed_gateway_call_is_timed_with_its_error_and_uses_no_tokens() -> None:
    memory = InMemoryMetricReader()
    metrics = GenAIMetrics(MeterProvider([memory]).get_meter("test"))
    failed = GatewayCallRecord(
        ts=1_700_000_000.0, key_name="alice", route="default", latency_ms=250.0, status=502,
        error="upstream_error",
    )  # fmt: skip
    metrics.record(call_span(failed, None, provider="openai", trace_id="1" * 32, span_id="2" * 16))

    (duration,) = points(memory, "gen_ai.client.operation.duration")
    assert duration.sum == pytest.approx(0.25, abs=1e-5)
    assert attrs(duration)["error.type"] == "upstream_error"
    assert attrs(duration)["gen_ai.provider.name"] == "openai"
    assert points(memory, "gen_ai.client.token.usage") == []
