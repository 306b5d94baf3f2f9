"""Langfuse exports and Phoenix span lists, as spans the GenAI reader understands.

**Langfuse**: a trace downloaded from its UI (``{"id", "input", "output", "observations":
[...]}``), the Observations API's answer (``{"data": [...]}``), a list of observations, or
one per line. An observation of type ``GENERATION`` is a model call (its ``input``: the
messages sent, its ``output``: the message returned, ``model``, ``usage`` or
``usageDetails``); ``TOOL`` (or a ``SPAN`` named like a tool the model called) is a tool
call (``input``: arguments, ``output``: result, ``level: ERROR`` with ``statusMessage``: a
failure); ``AGENT`` is the agent's run.

**Phoenix**: spans as its REST API and ``get_spans`` give them (``context.trace_id``,
``context.span_id``, ``parent_id``, ISO times, ``status_code``, OpenInference
``attributes``, nested or flattened).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from proctor.evals._trace_messages import read_messages
from proctor.evals._trace_otlp import Span, SpanEvent
from proctor.evals._traces import TraceFormatError, load_json_items, parse_json

_LANGFUSE_FIX = (
    "export the trace from Langfuse (Download JSON on the trace, or GET "
    "/api/public/v2/observations?traceId=...): a JSON object with 'observations', a list of "
    "observations, or one per line"
)


def _time(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / (1e9 if value > 1e14 else 1.0)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def langfuse_spans(text: bytes, *, where: str) -> list[Span]:
    """The observations of a Langfuse export, as spans."""
    document = load_json_items(text, where=where, fix=_LANGFUSE_FIX)
    traces: dict[str, dict[str, Any]] = {}
    observations: list[dict[str, Any]] = []
    for item in document if isinstance(document, list) else [document]:
        if not isinstance(item, dict):
            continue
        nested = item.get("observations", item.get("data"))
        if isinstance(nested, list):
            observations += [o for o in nested if isinstance(o, dict)]
            if "observations" in item and item.get("id"):
                traces[str(item["id"])] = item
        elif "traceId" in item or "type" in item:
            observations.append(item)
    if not observations:
        raise TraceFormatError(f"{where}: no Langfuse observations found. Fix: {_LANGFUSE_FIX}")
    called: set[str] = set()
    for obs in observations:
        if str(obs.get("type") or "").upper() == "GENERATION":
            for message in read_messages(_as_messages(obs.get("output"))):
                called.update(call.tool for call in message.calls)
    spans = [_observation(obs, called) for obs in observations]
    for trace_id, trace in traces.items():  # the trace's own input and output: its agent
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": trace.get("name") or "",
            "input.value": orjson.dumps(trace.get("input")).decode(),
            "output.value": _text(trace.get("output")),
        }
        at = _time(trace.get("timestamp"))
        spans.append(_plain(trace_id, "trace:" + trace_id, "agent", at, at, attributes))
    return spans


def _as_messages(value: Any) -> list[Any]:
    value = parse_json(value)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return list(value["messages"])
    if isinstance(value, dict) and isinstance(value.get("choices"), list):  # a raw completion
        return [c.get("message", c) for c in value["choices"] if isinstance(c, dict)]
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    return [] if value is None else [value]


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _observation(obs: dict[str, Any], called: set[str]) -> Span:
    kind = str(obs.get("type") or "SPAN").upper()
    name = str(obs.get("name") or "")
    attributes: dict[str, Any] = {}
    if kind == "GENERATION":
        usage = obs.get("usageDetails") or obs.get("usage") or {}
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": obs.get("model") or "",
            "gen_ai.input.messages": orjson.dumps(_as_messages(obs.get("input"))).decode(),
            "gen_ai.output.messages": orjson.dumps(
                [
                    m if isinstance(m, dict) else {"role": "assistant", "content": m}
                    for m in _as_messages(obs.get("output"))
                ]
            ).decode(),
            "gen_ai.usage.input_tokens": _int(usage, "input", "promptTokens", "prompt_tokens"),
            "gen_ai.usage.output_tokens": _int(
                usage, "output", "completionTokens", "completion_tokens"
            ),
        }
    elif kind == "TOOL" or (kind == "SPAN" and name in called):
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": _text(obs.get("input")),
            "gen_ai.tool.call.result": _text(obs.get("output")),
        }
        metadata: dict[str, Any] = obs["metadata"] if isinstance(obs.get("metadata"), dict) else {}
        call_id = metadata.get("tool_call_id") or metadata.get("toolCallId")
        if call_id:
            attributes["gen_ai.tool.call.id"] = str(call_id)
    elif kind == "AGENT":
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "input.value": _text(obs.get("input")),
            "output.value": _text(obs.get("output")),
        }
    span = _plain(
        str(obs.get("traceId") or "langfuse"),
        str(obs.get("id") or ""),
        kind.lower(),
        _time(obs.get("startTime")),
        _time(obs.get("endTime")),
        attributes,
    )
    span.parent_id = obs.get("parentObservationId")
    if str(obs.get("level") or "").upper() == "ERROR":
        span.error = str(obs.get("statusMessage") or "the tool failed")
    return span


def _int(usage: Any, *keys: str) -> int:
    if not isinstance(usage, dict):
        return 0
    for key in keys:
        if isinstance(usage.get(key), int):
            return int(usage[key])
    return 0


def _plain(
    trace_id: str,
    span_id: str,
    name: str,
    start: float | None,
    end: float | None,
    attributes: dict[str, Any],
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=None,
        name=name,
        start=start,
        end=end,
        attributes=attributes,
        scope="langfuse",
    )


def phoenix_spans(items: list[Any]) -> list[Span]:
    """Phoenix's span objects (OpenInference attributes), as spans."""
    spans = []
    for item in items:
        if not isinstance(item, dict):
            continue
        context: dict[str, Any] = item["context"] if isinstance(item.get("context"), dict) else {}
        attributes = _flatten(item.get("attributes") or {})
        status = str(item.get("status_code") or "").upper()
        spans.append(
            Span(
                trace_id=str(context.get("trace_id") or item.get("trace_id") or ""),
                span_id=str(context.get("span_id") or item.get("span_id") or ""),
                parent_id=item.get("parent_id"),
                name=str(item.get("name") or ""),
                start=_time(item.get("start_time")),
                end=_time(item.get("end_time")),
                attributes=attributes,
                events=[
                    SpanEvent(
                        name=str(e.get("name") or ""),
                        at=_time(e.get("timestamp")),
                        attributes=_flatten(e.get("attributes") or {}),
                    )
                    for e in item.get("events") or ()
                    if isinstance(e, dict)
                ],
                error=str(item.get("status_message") or "") if status == "ERROR" else None,
                scope="openinference",
            )
        )
    return spans


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested attribute objects as dotted keys (lists kept as values)."""
    if not isinstance(value, dict):
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict):
            flat.update(_flatten(item, name))
        else:
            flat[name] = item
    return flat
