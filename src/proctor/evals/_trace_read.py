"""``read_traces``: a file (or request body) of traces, as one trajectory per agent run.

Spans are grouped by trace id, and each trace that holds a model or tool span becomes one
trajectory; a transcript line or a dataset row is one too. Traces without any GenAI span
(only HTTP or database spans, say) are skipped; a file in which none has one is an error
naming the attributes looked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proctor.errors import UsageError
from proctor.evals._trace_files import DatasetFields, chat_transcripts, dataset_rows
from proctor.evals._trace_genai import span_kind, trajectory_of
from proctor.evals._trace_langfuse import langfuse_spans, phoenix_spans
from proctor.evals._trace_otlp import Span, decode_requests, spans_of
from proctor.evals._traces import (
    TRACE_FORMATS,
    ObservedTrajectory,
    TraceFormat,
    TraceFormatError,
    load_json_items,
)

_NO_GENAI = (
    "no span says it is a model call or a tool call (gen_ai.operation.name chat, "
    "execute_tool or invoke_agent; openinference.span.kind LLM, TOOL or AGENT; a span named "
    "'chat ...' or 'execute_tool ...'). Fix: export the spans of a GenAI instrumentation "
    "(pydantic-ai, the OpenAI Agents SDK's, OpenInference, OpenLLMetry)"
)


def read_traces(
    source: str | Path | bytes,
    format: str,
    *,
    fields: DatasetFields | None = None,
    where: str | None = None,
) -> list[ObservedTrajectory]:
    """The trajectories in ``source`` (a path, or the bytes of a file or request body).

    Raises:
        UsageError: an unknown format.
        TraceFormatError: the file is not what ``format`` says, or holds no agent run.
    """
    if format not in TRACE_FORMATS:
        raise UsageError(f"unknown trace format {format!r}: use one of {', '.join(TRACE_FORMATS)}")
    if isinstance(source, bytes):
        text, where = source, where or "the request"
    else:
        path = Path(source)
        text, where = path.read_bytes(), where or str(path)
    kind: TraceFormat = format
    if kind == "openai-jsonl":
        return chat_transcripts(text, where=where)
    if kind == "json":
        return dataset_rows(text, fields or DatasetFields(), where=where)
    if kind == "langfuse":
        return trajectories_of(langfuse_spans(text, where=where), where=where, fallback="langfuse")
    if kind == "openinference" and b"resourceSpans" not in text and b"resource_spans" not in text:
        items = load_json_items(
            text,
            where=where,
            fix="export the spans from Phoenix (a list of span objects, or OTLP JSON)",
        )
        if isinstance(items, dict):
            items = items.get("data", items.get("spans", [items]))
        spans = phoenix_spans(items if isinstance(items, list) else [])
        return trajectories_of(spans, where=where, fallback="openinference")
    return trajectories_of(spans_of(decode_requests(text, where=where)), where=where)


def trajectories_of(
    spans: Sequence[Span], *, where: str, fallback: str = "otlp"
) -> list[ObservedTrajectory]:
    """One trajectory per trace of ``spans`` that holds a model or tool span."""
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    found = []
    for trace_id, members in traces.items():
        genai = [s for s in members if span_kind(s) != "other"]
        if not any(span_kind(s) in ("chat", "tool") for s in genai) and not _whole(genai):
            continue
        trajectory = trajectory_of(trace_id, members, source=instrumentation(genai, fallback))
        if trajectory.turns:
            found.append(trajectory)
    if not found:
        raise TraceFormatError(f"{where}: {_NO_GENAI}")
    return found


def _whole(agents: Sequence[Span]) -> bool:
    """Whether an agent span holds the whole conversation (pydantic-ai's agent span)."""
    return any(
        any(
            key.startswith(("pydantic_ai.all_messages", "gen_ai.input.messages"))
            for key in s.attributes
        )
        for s in agents
    )


_KNOWN = (
    ("pydantic", "pydantic-ai"),
    ("openai_agents", "openai-agents"),
    ("openai-agents", "openai-agents"),
    ("langgraph", "langgraph"),
    ("langchain", "langchain"),
    ("openinference", "openinference"),
    ("langfuse", "langfuse"),
    ("traceloop", "openllmetry"),
)


def instrumentation(spans: Sequence[Span], fallback: str = "otlp") -> str:
    """A short name for what emitted the spans (their instrumentation scope), or ``fallback``."""
    for span in spans:
        scope = span.scope.lower()
        for needle, name in _KNOWN:
            if needle in scope:
                return name
    return fallback


def describe(trajectory: ObservedTrajectory) -> dict[str, Any]:
    """A short summary, for listings and tests."""
    return {
        "id": trajectory.id,
        "source": trajectory.source,
        "calls": [call.tool for call in trajectory.calls],
        "final": trajectory.final_text,
    }


__all__ = ["TraceFormatError", "read_traces"]
