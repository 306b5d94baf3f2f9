"""GenAI client metrics from the ``chat`` spans live export makes.

``gen_ai.client.operation.duration`` (seconds) and ``gen_ai.client.token.usage`` (tokens,
by ``gen_ai.token.type``: ``input``, ``output``), histograms as the GenAI conventions
define them, with their advised bucket boundaries. They are recorded where a ``chat``
span is handed to the exporter (a model call of a run, a checker verdict, a gateway
endpoint call): a few attribute reads and three ``record`` calls, no set-up per call.
Batch export records none: metrics describe calls as they happen, not a past run sent
again. The SDK's reader sends them with the OTLP metric exporter (see ``_otel``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from proctor.telemetry._attributes import OP
from proctor.telemetry._spans import Attributes, SpanData

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)  # fmt: skip
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                    20.48, 40.96, 81.92)  # fmt: skip
_DIMENSIONS = (
    OP,
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "error.type",
)
_TOKENS = (("input", "gen_ai.usage.input_tokens"), ("output", "gen_ai.usage.output_tokens"))


class MetricsSink(Protocol):
    """What live export hands its ``chat`` spans to, and flushes and stops with it."""

    def record(self, span: SpanData) -> None: ...

    def force_flush(self, timeout_ms: int = 30_000) -> bool: ...

    def shutdown(self) -> None: ...


class GenAIMetrics:
    """The two GenAI client histograms, on ``meter``."""

    def __init__(self, meter: Meter) -> None:
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )

    def record(self, span: SpanData) -> None:
        """Record ``span`` if it is a ``chat`` span (other spans are not client calls)."""
        attrs = span.attributes
        if attrs.get(OP) != "chat":
            return
        dimensions: Attributes = {k: attrs[k] for k in _DIMENSIONS if k in attrs}
        self.duration.record(max(0.0, span.end - span.start), dimensions)
        if "error.type" in dimensions:  # a failed call used no tokens worth counting
            return
        for kind, key in _TOKENS:
            count = attrs.get(key)
            if isinstance(count, int):
                self.tokens.record(count, {**dimensions, "gen_ai.token.type": kind})
