"""Live export: the runtime's hook, across pauses and processes, and when things fail."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from proctor.examples import invoice
from proctor.runtime import Runner, decide_approval
from proctor.store import EventRow, RunJournal, RunStarted, SQLiteStore, Store
from proctor.telemetry import (
    CONTENT_ATTRIBUTES,
    LiveExporter,
    configure_live_export,
    live_exporter,
    reset_live_export,
    run_spans,
)
from proctor.telemetry._otel import QuietExporter
from support.invoice_runs import approved_run
from support.otel import shapes
from support.planted import PLANTED, leaks

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Every span this process's runs export live, kept in memory (the SDK's own exporter,
    behind a synchronous processor)."""
    memory = InMemorySpanExporter()
    configure_live_export(processor=SimpleSpanProcessor(memory))
    try:
        yield memory
    finally:
        reset_live_export()


async def test_live_export_sends_what_a_batch_export_of_the_run_sends(
    store: Store, exported: InMemorySpanExporter
) -> None:
    run_id = await approved_run(store)  # paused for approval, decided, resumed, resolved

    live = exported.get_finished_spans()
    assert shapes(live) == shapes(await run_spans(store, run_id))
    names = sorted(s.name for s in live)
    assert names.count("chat scripted:procedure") == 6
    assert names.count("chat scripted:checker") == 1
    assert len([n for n in names if n.startswith("execute_tool")]) == 5
    assert names.count("invoke_agent invoice_reconciliation") == 1
    (root,) = [s for s in live if s.parent is None]
    record = await store.get_run(run_id)
    assert record is not None
    assert root.context is not None
    assert f"{root.context.trace_id:032x}" == record.trace_id


async def test_a_run_finished_by_another_process_is_one_trace_sent_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    try:
        configure_live_export(processor=SimpleSpanProcessor(first))
        waiting = await Runner(store, invoice.workflow()).start(
            invoice.sample_input("over_threshold")
        )
        assert waiting.state.pending_approval is not None
        # A person decides, and the run goes on, in another process: a fresh exporter.
        configure_live_export(processor=SimpleSpanProcessor(second))
        await decide_approval(store, waiting.state.pending_approval, approved=True, by="bob")
        result = await Runner(store, invoice.workflow()).resume(waiting.run_id)
        assert result.outcome == "resolved"

        before, after = first.get_finished_spans(), second.get_finished_spans()
        assert not {s.context.span_id for s in before} & {s.context.span_id for s in after}
        assert shapes([*before, *after]) == shapes(await run_spans(store, waiting.run_id))
        assert "invoke_agent invoice_reconciliation" in {s.name for s in after}
        payment = [s for s in after if s.name == "execute_tool erp.create_payment"]
        assert [e.name for e in payment[0].events][:4] == [
            "proctor.policy_decided",
            "proctor.approval_requested",
            "proctor.checker_decided",
            "proctor.approval_decided",
        ]
    finally:
        reset_live_export()
        await store.close()


def test_off_unless_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_live_export()
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    assert live_exporter() is None

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    try:
        exporter = live_exporter()
        assert isinstance(exporter, LiveExporter)
        assert isinstance(exporter.processor, BatchSpanProcessor)
        assert exporter.capture_content is False
        assert live_exporter() is exporter  # one per process and setting

        monkeypatch.setenv("PROCTOR_OTEL_CAPTURE_CONTENT", "true")
        changed = live_exporter()
        assert changed is not None
        assert changed is not exporter
        assert changed.capture_content

        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        assert live_exporter() is None
    finally:
        reset_live_export()


def test_a_bad_setting_turns_live_export_off_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reset_live_export()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("PROCTOR_OTEL_CAPTURE_CONTENT", "maybe")
    try:
        assert live_exporter() is None
    finally:
        reset_live_export()
    assert "PROCTOR_OTEL_CAPTURE_CONTENT='maybe' is not a boolean" in caplog.text


async def test_captured_content_is_the_redacted_record(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = InMemorySpanExporter()
    configure_live_export(processor=SimpleSpanProcessor(memory), capture_content=True)
    try:
        flow = invoice.workflow()
        planted = {**invoice.sample_input("clean"), "contact": PLANTED["email"]}
        result = await Runner(store, flow).start(planted)
    finally:
        reset_live_export()
    spans = memory.get_finished_spans()
    (root,) = [s for s in spans if s.parent is None]
    assert root.attributes is not None
    assert "[email:redacted]" in str(root.attributes["gen_ai.input.messages"])
    keys = {k for s in spans for k in (s.attributes or {})}
    assert {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} <= keys
    assert "gen_ai.output.messages" in keys
    assert not leaks(repr([(s.attributes, s.events) for s in spans]).encode())
    assert result.outcome == "resolved"


async def test_no_content_by_default(store: Store, exported: InMemorySpanExporter) -> None:
    await Runner(store, invoice.workflow()).start(invoice.sample_input("clean"))

    keys = {k for s in exported.get_finished_spans() for k in (s.attributes or {})}
    assert "gen_ai.usage.input_tokens" in keys
    assert not keys & CONTENT_ATTRIBUTES


class _BrokenStore:
    async def get_run(self, run_id: str) -> None:
        return None

    async def events(self, run_id: str) -> list[EventRow]:
        raise OSError("disk on fire")


def _row(tmp_path: Path) -> EventRow:
    journal = RunJournal(
        SQLiteStore(tmp_path / "unused.db"),
        run_id="run_x",
        trace_id="1" * 32,
        root_span_id="2" * 16,
    )
    journal.last_seq = 4  # as if four events came before
    row, _ = journal.build(
        RunStarted(
            workflow="w", model="m", contract_name="w", contract_version="1", contract_hash="h"
        )
    )
    return row


async def test_a_failure_never_reaches_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = LiveExporter(SimpleSpanProcessor(InMemorySpanExporter()))
    broken: Store = _BrokenStore()  # type: ignore[assignment]

    await exporter.on_flush(broken, "run_x", [_row(tmp_path)], "running")
    await exporter.on_flush(broken, "run_x", [_row(tmp_path)], "running")

    assert caplog.text.count("OpenTelemetry export of run run_x failed") == 1
    assert "disk on fire" in caplog.text


class _Hanging(SpanExporter):
    """A receiver that never answers, until the exporter is told to stop."""

    def __init__(self) -> None:
        self.stop = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.stop.wait(30)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.stop.set()


async def test_exit_waits_a_bounded_time_for_a_receiver_that_does_not_answer(
    store: Store,
) -> None:
    hanging = _Hanging()
    live = configure_live_export(processor=BatchSpanProcessor(hanging))
    assert live is not None
    live.abort = hanging.shutdown
    try:
        await Runner(store, invoice.workflow()).start(invoice.sample_input("clean"))
        started = time.monotonic()
        live.close_at_exit(wait_s=0.5)
        assert time.monotonic() - started < 3
        assert hanging.stop.is_set()
    finally:
        reset_live_export()


class _Refusing(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter").error(
            "Failed to export %s batch code: %s, reason: %s", "spans", 401, "Unauthorized"
        )
        return SpanExportResult.FAILURE


def test_a_refused_export_is_one_warning_then_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="proctor.telemetry")
    quiet = QuietExporter(_Refusing(), "http://collector:4318/v1/traces")

    assert quiet.export([]) is SpanExportResult.FAILURE
    assert quiet.export([]) is SpanExportResult.FAILURE

    mine = [r for r in caplog.records if r.name == "proctor.telemetry"]
    assert [r.levelname for r in mine] == ["WARNING", "DEBUG"]
    assert "http://collector:4318/v1/traces failed (HTTP 401 Unauthorized)" in mine[0].message
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


def test_the_cli_does_not_import_the_sdk_until_it_exports() -> None:
    code = (
        "import sys, proctor.cli, proctor.runtime, proctor.telemetry; "
        "print(sorted({m.split('.')[0] + '.' + m.split('.')[1] for m in sys.modules "
        "if m.startswith('opentelemetry.')}))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "opentelemetry.sdk" not in ran.stdout
    assert "opentelemetry.exporter" not in ran.stdout


async def test_a_runner_can_keep_its_runs_out_of_live_export(
    store: Store, exported: InMemorySpanExporter
) -> None:
    quiet = Runner(store, invoice.workflow(), live_telemetry=False)
    result = await quiet.start(invoice.sample_input("clean"))
    assert result.outcome == "resolved"
    assert exported.get_finished_spans() == ()

    loud = Runner(store, invoice.workflow())
    await loud.start(invoice.sample_input("clean"))
    assert exported.get_finished_spans()  # the same process, exporting: the switch worked
