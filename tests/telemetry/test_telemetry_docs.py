"""docs/telemetry.md documents every event type, attribute, span event, setting and option."""

from __future__ import annotations

from pathlib import Path

import typer.main

from proctor.cli import app
from proctor.store import EVENT_TYPES
from proctor.telemetry import CONTENT_ATTRIBUTES, spans_for_run
from proctor.telemetry._config import CAPTURE_CONTENT, ENDPOINT, METRICS_ENDPOINT, TRACES_ENDPOINT
from proctor.telemetry._metrics import _DIMENSIONS
from support.run_log import every_event_type

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")


def test_every_event_type_is_in_the_mapping_table() -> None:
    table = DOC[DOC.index("## The mapping") :]
    missing = [
        t.model_fields["type"].default
        for t in EVENT_TYPES
        if f"`{t.model_fields['type'].default}`" not in table
    ]
    assert not missing, f"add these to the mapping table of docs/telemetry.md: {missing}"


def test_every_attribute_and_span_event_is_documented() -> None:
    spans = spans_for_run(every_event_type().events, capture_content=True)
    names = {span.name.split(" ")[0] for span in spans}
    keys = {key for span in spans for key in span.attributes}
    for span in spans:
        for event in span.events:
            names.add(event.name)
            keys.update(event.attributes)

    missing = sorted(f"`{x}`" for x in names | keys if f"`{x}`" not in DOC)
    assert not missing, f"add these to docs/telemetry.md: {missing}"
    content = DOC[DOC.index("## Content") :]
    assert all(f"`{key}`" in content for key in CONTENT_ATTRIBUTES)


def test_every_setting_and_option_is_documented() -> None:
    variables = [ENDPOINT, TRACES_ENDPOINT, CAPTURE_CONTENT, "OTEL_SDK_DISABLED"]
    variables += [METRICS_ENDPOINT, "OTEL_METRICS_EXPORTER", "OTEL_METRIC_EXPORT_INTERVAL"]
    variables += ["OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME"]
    assert all(f"`{name}" in DOC for name in variables)

    command = typer.main.get_command(app)
    otel = command.commands["otel"].commands["export"]  # type: ignore[attr-defined]
    options = [opt for param in otel.params for opt in param.opts + param.secondary_opts]
    missing = [opt for opt in options if f"`{opt}" not in DOC]
    assert not missing, f"document these `proctor otel export` options: {missing}"


def test_the_metrics_are_documented() -> None:
    metrics = DOC[DOC.index("## Metrics") :]
    names = ["gen_ai.client.operation.duration", "gen_ai.client.token.usage"]
    names += ["gen_ai.token.type", *_DIMENSIONS]
    assert all(f"`{name}`" in metrics for name in names)
