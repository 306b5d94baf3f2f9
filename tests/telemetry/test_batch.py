"""Batch export: settings, which runs go, and the CLI's one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proctor.errors import ConfigError, NotFoundError, UsageError
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import Store
from proctor.telemetry import (
    SpanData,
    export_runs,
    parse_since,
    run_spans,
    select_runs,
    telemetry_settings,
)
from support.invoice_runs import approved_run
from support.otel import proctor

NOW = 1_750_000_000.0


def test_the_endpoint_comes_from_the_standard_variables() -> None:
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert telemetry_settings(base).endpoint == "http://collector:4318/v1/traces"
    full = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otlp.example/api/traces"}
    assert telemetry_settings(full).endpoint == "https://otlp.example/api/traces"
    assert telemetry_settings({}).endpoint is None
    off = telemetry_settings({**base, "OTEL_SDK_DISABLED": "true"})
    assert (off.endpoint, off.off_reason) == (None, "OTEL_SDK_DISABLED=true")
    assert telemetry_settings({**base, "OTEL_TRACES_EXPORTER": "none"}).endpoint is None


def test_content_capture_is_off_unless_asked_for() -> None:
    assert telemetry_settings({}).capture_content is False
    assert telemetry_settings({"PROCTOR_OTEL_CAPTURE_CONTENT": "true"}).capture_content is True
    assert telemetry_settings({"PROCTOR_OTEL_CAPTURE_CONTENT": "0"}).capture_content is False
    with pytest.raises(ConfigError, match=r"is not a boolean\. Fix: set it to true or false"):
        telemetry_settings({"PROCTOR_OTEL_CAPTURE_CONTENT": "sometimes"})


def test_only_otlp_over_http_is_accepted() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ConfigError, match="OTLP over HTTP with protobuf only"):
        telemetry_settings(env)
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    assert telemetry_settings(env).endpoint == "http://c:4317/v1/traces"


def test_since_is_an_age_or_a_date() -> None:
    assert parse_since("7d", now=NOW) == NOW - 7 * 86400
    assert parse_since("90m", now=NOW) == NOW - 5400
    assert parse_since("1.5h", now=NOW) == NOW - 5400
    assert parse_since("2025-06-01") == datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    with pytest.raises(UsageError, match="neither an age"):
        parse_since("last week")


async def test_only_finished_runs_are_selected(store: Store) -> None:
    done = await approved_run(store)
    waiting = await Runner(store, invoice.workflow()).start(invoice.sample_input("over_threshold"))

    everything = await select_runs(store)
    assert [r.run_id for r in everything.runs] == [done]
    assert everything.unfinished == 1
    assert (await select_runs(store, since=NOW * 2)).runs == []
    assert (await select_runs(store, workflow="other")).runs == []
    one = await select_runs(store, run_id=waiting.run_id)
    assert (one.runs, one.unfinished) == ([], 1)
    with pytest.raises(NotFoundError, match="no run 'run_nope'"):
        await select_runs(store, run_id="run_nope")


async def test_export_runs_sends_each_runs_spans(store: Store) -> None:
    first, second = await approved_run(store), await approved_run(store)
    sent: list[list[SpanData]] = []
    heard: list[tuple[str, int]] = []

    report = await export_runs(
        store,
        sent.append,
        await select_runs(store),
        progress=lambda record, spans: heard.append((record.run_id, spans)),
    )

    # 13 spans of the run and its calls, and the policy's 6 decisions as guardrail runs.
    assert [len(batch) for batch in sent] == [19, 19]
    assert heard == [(first, 19), (second, 19)]
    assert (report.runs, report.spans, report.unfinished) == (2, 38, 0)
    assert [s.span_id for s in sent[0]] == [s.span_id for s in await run_spans(store, first)]


@pytest.mark.slow
def test_the_cli_says_which_variables_to_set(tmp_path: Path) -> None:
    ran = proctor("otel", "export", home=tmp_path)
    assert ran.returncode == 1, ran
    assert ran.stderr.count("\n") == 1, ran  # one line
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in ran.stderr
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in ran.stderr

    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps(invoice.sample_input("clean")))
    started = proctor("run", "invoice_reconciliation", "--input", str(clean), home=tmp_path)
    assert started.returncode == 0, started
    closed = proctor("otel", "export", "--endpoint", "http://127.0.0.1:9/v1/traces", home=tmp_path)
    assert closed.returncode == 1, closed
    assert closed.stderr == (
        "error: cannot reach the OTLP endpoint http://127.0.0.1:9/v1/traces: connection "
        "refused. Fix: start the receiver, or point the endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, "
        "or --endpoint) at it\n"
    )
