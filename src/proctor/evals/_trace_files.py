"""Transcripts and datasets: OpenAI chat-completions JSONL and generic JSON datasets.

**openai-jsonl**: one conversation per line, ``{"messages": [...], "tools": [...]}`` (the
fine-tuning and eval format) or a bare list of messages: assistant messages with
``tool_calls`` are the model's turns, ``tool`` messages their results (by
``tool_call_id``), the first user message the input.

**json**: a list of objects (or JSON lines, or a list under ``data``, ``examples``,
``items`` or ``rows``). ``DatasetFields`` says where each part is (dotted paths for nested
fields): the input (an object is the run's input; text is the prompt), the tool calls
(each ``{"name" | "tool" | "function": {...}, "arguments" | "args" | "input" | ...}``,
optionally with its ``result`` or ``output``), and the final output. Each call is taken as
one turn of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proctor.evals._trace_messages import conversation, read_messages
from proctor.evals._traces import (
    ObservedResult,
    ObservedToolCall,
    ObservedTrajectory,
    ObservedTurn,
    TraceFormatError,
    arguments_of,
    load_json_items,
    parse_json,
    text_of,
)

_CHAT_FIX = (
    'write one conversation per line: {"messages": [{"role": "user", ...}, {"role": '
    '"assistant", "tool_calls": [...]}, {"role": "tool", "tool_call_id": ..., "content": ...}]}'
)


def chat_transcripts(text: bytes, *, where: str) -> list[ObservedTrajectory]:
    """One trajectory per line of an OpenAI chat-completions JSONL file."""
    trajectories = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = parse_json(line.decode())
        except UnicodeDecodeError:
            item = None
        messages = item.get("messages") if isinstance(item, dict) else item
        if not isinstance(messages, list):
            raise TraceFormatError(
                f"{where}:{number}: expected a conversation (an object with 'messages', or a "
                f"list of messages). Fix: {_CHAT_FIX}"
            )
        trajectory = ObservedTrajectory(id=f"line {number}", source="openai-jsonl")
        conversation(trajectory, read_messages(messages))
        if isinstance(item, dict) and isinstance(item.get("model"), str):
            trajectory.model = item["model"]
        trajectories.append(trajectory)
    if not trajectories:
        raise TraceFormatError(f"{where}: the file holds no conversations. Fix: {_CHAT_FIX}")
    return trajectories


@dataclass(frozen=True, kw_only=True)
class DatasetFields:
    """Where a dataset row keeps each part (dotted paths; ``None``: the usual names)."""

    input: str | None = None
    calls: str | None = None
    output: str | None = None


_INPUTS = ("input", "inputs", "question", "prompt", "query", "task")
_CALLS = ("expected_tool_calls", "tool_calls", "calls", "expected_calls", "trajectory")
_OUTPUTS = ("output", "expected_output", "answer", "final_answer", "response")
_ROWS = ("data", "examples", "items", "rows", "cases")


def dataset_rows(text: bytes, fields: DatasetFields, *, where: str) -> list[ObservedTrajectory]:
    """One trajectory per row of a JSON dataset."""
    fix = (
        "give a list of objects (or one per line), and name the fields with --input-field, "
        "--calls-field and --output-field (dotted paths for nested fields)"
    )
    document = load_json_items(text, where=where, fix=fix)
    if isinstance(document, dict):
        document = next((document[k] for k in _ROWS if isinstance(document.get(k), list)), None)
    if not isinstance(document, list) or not document:
        raise TraceFormatError(f"{where}: expected a non-empty list of objects. Fix: {fix}")
    trajectories = []
    for number, row in enumerate(document, 1):
        if not isinstance(row, dict):
            raise TraceFormatError(f"{where}: item {number} is not an object. Fix: {fix}")
        trajectory = ObservedTrajectory(id=f"item {number}", source="json")
        value, found = _field(row, fields.input, _INPUTS)
        if not found:
            raise TraceFormatError(
                f"{where}: item {number} has no input ({_named(fields.input, _INPUTS)}). "
                f"Fix: name its field with --input-field"
            )
        value = parse_json(value)
        if isinstance(value, dict):
            trajectory.input = value
        elif value is not None:
            trajectory.messages.append(value if isinstance(value, str) else str(value))
        calls, found = _field(row, fields.calls, _CALLS)
        if fields.calls is not None and not found:
            raise TraceFormatError(
                f"{where}: item {number} has no field {fields.calls!r}. Fix: check --calls-field"
            )
        for index, raw in enumerate(parse_json(calls) or ()):
            _add_call(trajectory, raw, f"call_{number}_{index}", where=f"{where}: item {number}")
        output, _ = _field(row, fields.output, _OUTPUTS)
        trajectory.final_text = text_of(parse_json(output)) if output is not None else None
        trajectory.ensure_final()
        trajectories.append(trajectory)
    return trajectories


def _field(row: dict[str, Any], path: str | None, usual: tuple[str, ...]) -> tuple[Any, bool]:
    for candidate in (path,) if path is not None else usual:
        node: Any = row
        for part in candidate.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return node, True
    return None, False


def _named(path: str | None, usual: tuple[str, ...]) -> str:
    return f"no field {path!r}" if path is not None else "none of " + ", ".join(usual)


def _add_call(trajectory: ObservedTrajectory, raw: Any, call_id: str, *, where: str) -> None:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise TraceFormatError(
            f"{where}: a tool call must be an object such as "
            '{"name": "erp.fetch_po", "arguments": {...}}, or a tool name. Fix: reshape it, or '
            "point --calls-field at the list of calls"
        )
    function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else raw
    name = function.get("name") or raw.get("tool") or raw.get("tool_name")
    if not isinstance(name, str) or not name:
        raise TraceFormatError(
            f"{where}: a tool call names no tool ('name' or 'tool'). Fix: add it"
        )
    arguments = next(
        (function[k] for k in ("arguments", "args", "input", "parameters") if k in function), None
    )
    args, text = arguments_of(arguments)
    call = ObservedToolCall(
        id=str(raw.get("id") or call_id), tool=name, arguments=args, raw_arguments=text
    )
    trajectory.turns.append(ObservedTurn(calls=(call,)))
    for key in ("result", "output", "response"):
        if key in raw:
            trajectory.results[call.id] = ObservedResult(
                call_id=call.id, tool=name, result=parse_json(raw[key])
            )
            break
    else:
        if "error" in raw:
            trajectory.results[call.id] = ObservedResult(
                call_id=call.id,
                tool=name,
                ok=False,
                error=str(raw["error"]),
                error_type="ToolError",
            )
