"""Calls to the gateway endpoint as OpenTelemetry GenAI ``chat`` spans.

An endpoint call is not a run: it has no event log, so its span is made from its call
ledger row (times, key, route, deployment, cost, status) and the answer's usage. Each
call is a trace of one span, ``chat {route}``. The request itself only appends the row
to a list (``CallSpans.add``); a callback on the event loop a few milliseconds later turns
the gathered rows into SDK spans and hands them to the live exporter's
``BatchSpanProcessor``, whose thread sends them, so no caller waits for a span.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping

from proctor.store import GatewayCallRecord, Usage
from proctor.telemetry._attributes import OP, call_cost, priced_call, put, usage
from proctor.telemetry._live import LiveExporter, live_exporter
from proctor.telemetry._spans import Attributes, SpanData

logger = logging.getLogger("proctor.telemetry")

FLUSH_AFTER_S = 0.005
"""How long calls gather before their spans are made (one callback per batch)."""
MAX_QUEUED = 10_000
"""Calls kept waiting for spans at most; more are dropped (the exporter is not keeping up)."""

_PROVIDERS = {"openai": "openai", "scripted": "proctor.scripted"}


def call_span(
    call: GatewayCallRecord,
    tokens: Usage | None,
    *,
    provider: str | None,
    trace_id: str,
    span_id: str,
) -> SpanData:
    """The ``chat`` span of one endpoint call. ``provider`` is the configured provider of
    the deployment that answered (or would have), if known."""
    attrs: Attributes = {OP: "chat", "gen_ai.request.model": call.route}
    if provider is not None:
        name = _PROVIDERS.get(provider, provider)
        attrs["gen_ai.provider.name"] = name
    put(attrs, "gen_ai.response.model", call.model)
    if tokens is None:
        tokens = Usage(input_tokens=call.input_tokens, output_tokens=call.output_tokens)
    attrs |= usage(tokens)
    attrs |= priced_call(call.model or call.route, tokens)
    attrs["proctor.key"] = call.key_name
    attrs["proctor.route"] = call.route
    put(attrs, "proctor.deployment", call.deployment)
    attrs |= call_cost(call.cost_usd)
    attrs["proctor.cache_hit"] = call.cache_hit
    attrs["proctor.http.status"] = call.status
    failed = call.status >= 400
    if failed:
        attrs["error.type"] = call.error or str(call.status)
    return SpanData(
        name=f"chat {call.route}".rstrip(),
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=None,
        kind="client",
        start=call.ts - call.latency_ms / 1000,
        end=call.ts,
        attributes=attrs,
        error=(call.error or f"HTTP {call.status}") if failed else None,
    )


class CallSpans:
    """Gathers endpoint calls and exports their spans in batches, off the request path.

    ``providers`` maps deployment names, and route names (to their first deployment's),
    to the configured provider (``openai``, ``scripted``).
    """

    def __init__(self, exporter: LiveExporter, providers: Mapping[str, str]) -> None:
        from proctor.telemetry._otel import readable

        self._readable = readable
        self.exporter = exporter
        self.providers = dict(providers)
        self._queue: list[tuple[GatewayCallRecord, Usage | None]] = []
        self._scheduled = False
        self.dropped = 0

    def add(self, call: GatewayCallRecord, tokens: Usage | None) -> None:
        """Queue ``call`` for a span (the hot path: an append, and a timer per batch)."""
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.append((call, tokens))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_AFTER_S, self.flush)

    def flush(self) -> None:
        """Make the queued calls' spans and hand them to the exporter. Never raises."""
        self._scheduled = False
        batch, self._queue = self._queue, []
        getbits = random.getrandbits
        metrics = self.exporter.metrics
        try:
            for call, tokens in batch:
                provider = self.providers.get(call.deployment or call.route)
                span = call_span(
                    call,
                    tokens,
                    provider=provider,
                    trace_id=f"{getbits(128) or 1:032x}",
                    span_id=f"{getbits(64) or 1:016x}",
                )
                self.exporter.processor.on_end(self._readable(span, self.exporter.resource))
                if metrics is not None:
                    metrics.record(span)
        except Exception as exc:  # telemetry must never break the endpoint
            logger.warning("OpenTelemetry export of gateway calls failed: %r", exc)


def gateway_call_spans(providers: Mapping[str, str]) -> CallSpans | None:
    """Span export of endpoint calls through this process's live exporter; ``None`` when
    export is off (see ``live_exporter``)."""
    exporter = live_exporter()
    return None if exporter is None else CallSpans(exporter, providers)
