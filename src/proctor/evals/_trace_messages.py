"""Chat messages in the shapes traces hold them, read into one shape.

Three dialects reach the readers: OpenAI's chat format (``role``, ``content``,
``tool_calls[].function``, ``tool_call_id``), the OpenTelemetry GenAI conventions' parts
(``role``, ``parts[]`` of ``text``, ``tool_call`` and ``tool_call_response``), and the
older GenAI events (``gen_ai.user.message``, ``gen_ai.choice`` with a ``message``). Each
becomes a ``Message``; ``conversation`` folds a whole conversation into a trajectory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from proctor.evals._traces import (
    ObservedResult,
    ObservedToolCall,
    ObservedTrajectory,
    ObservedTurn,
    arguments_of,
    parse_json,
    text_of,
)

_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool"}
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
    "gen_ai.choice": "assistant",
}


@dataclass(kw_only=True)
class Message:
    """One message: its role, text, the calls it proposes, or the result it carries."""

    role: str
    text: str | None = None
    calls: list[ObservedToolCall] = field(default_factory=list)
    results: list[ObservedResult] = field(default_factory=list)


_ids = itertools.count(1)


def _call_id(value: Any) -> str:
    return str(value) if value not in (None, "") else f"call_observed_{next(_ids)}"


def read_message(raw: Any, *, role: str | None = None) -> Message | None:
    """One message in any of the dialects (``role`` when the container names it)."""
    raw = parse_json(raw)
    if isinstance(raw, str):
        return Message(role=role or "user", text=raw)
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("message"), dict | str) and "role" not in raw:  # gen_ai.choice
        return read_message(raw["message"], role=role or "assistant")
    kind = str(raw.get("role") or role or raw.get("type") or "user").lower()
    kind = _ROLES.get(kind, kind)
    message = Message(role=kind)
    parts = raw.get("parts")
    if isinstance(parts, list):
        _read_parts(message, parts)
    else:
        message.text = text_of(raw.get("content"))
        content = raw.get("content")
        if isinstance(content, list):  # content parts that are tool calls or results
            _read_parts(message, content)
            message.text = text_of([p for p in content if _part_type(p) == "text"]) or None
    for call in raw.get("tool_calls") or ():
        message.calls.append(_read_call(call))
    if raw.get("function_call"):  # the pre-tools form of one call
        message.calls.append(_read_call({"function": raw["function_call"]}))
    if kind == "tool" and not message.results:
        call_id = raw.get("tool_call_id") or raw.get("id") or ""
        message.results.append(
            ObservedResult(
                call_id=str(call_id),
                tool=str(raw.get("name") or ""),
                result=parse_json(raw.get("content")),
            )
        )
        message.text = None
    return message


def _part_type(part: Any) -> str:
    return str(part.get("type") or "") if isinstance(part, dict) else "text"


def _read_parts(message: Message, parts: list[Any]) -> None:
    texts = []
    for part in parts:
        kind = _part_type(part)
        if kind == "text" or isinstance(part, str):
            texts.append(text_of(part) or "")
        elif kind in ("tool_call", "function_call", "tool_use"):
            message.calls.append(_read_call(part))
        elif kind in ("tool_call_response", "tool_result", "function_call_output"):
            result = next(
                (part[k] for k in ("response", "result", "content", "output") if k in part), None
            )
            message.results.append(
                ObservedResult(
                    call_id=str(part.get("id") or part.get("tool_use_id") or part.get("call_id")),
                    tool=str(part.get("name") or ""),
                    result=parse_json(result),
                )
            )
    message.text = "\n".join(t for t in texts if t) or None


def _read_call(raw: Any) -> ObservedToolCall:
    raw = raw if isinstance(raw, dict) else {}
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    arguments = function.get("arguments", function.get("input", raw.get("args")))
    args, text = arguments_of(arguments)
    return ObservedToolCall(
        id=_call_id(raw.get("id") or raw.get("call_id")),
        tool=str(function.get("name") or ""),
        arguments=args,
        raw_arguments=text,
    )


def read_messages(raw: Any) -> list[Message]:
    """A list of messages (or one message, or JSON text of either)."""
    raw = parse_json(raw)
    if isinstance(raw, dict) and isinstance(raw.get("messages"), list):
        raw = raw["messages"]
    items = raw if isinstance(raw, list) else [raw]
    return [m for m in (read_message(item) for item in items) if m is not None]


def event_message(name: str, attributes: dict[str, Any]) -> Message | None:
    """A message from a GenAI event (``gen_ai.user.message``, ``gen_ai.choice``, ...), or
    from one element of pydantic-ai 0.x's ``events`` attribute."""
    role = _EVENT_ROLES.get(name)
    if role is None:
        return None
    body = attributes.get("message", attributes) if name == "gen_ai.choice" else attributes
    return read_message(body, role=role)


def conversation(
    trajectory: ObservedTrajectory, messages: Iterable[Message], *, model: str | None = None
) -> None:
    """Fold a whole conversation into ``trajectory``: system text into its instructions,
    user messages into its messages, assistant messages into turns, tool messages into
    results (matched to their calls by id, else by order)."""
    pending: list[ObservedToolCall] = []
    for message in messages:
        if message.role in ("system", "developer"):
            if message.text:
                joined = "\n".join(filter(None, [trajectory.instructions, message.text]))
                trajectory.instructions = joined
        elif message.role == "assistant":
            if message.text is None and not message.calls:
                continue
            turn = ObservedTurn(text=message.text, calls=tuple(message.calls), model=model)
            trajectory.turns.append(turn)
            pending.extend(message.calls)
        elif message.role == "tool" or message.results:
            for result in message.results:
                add_result(trajectory, result, pending)
        elif message.text:
            trajectory.messages.append(message.text)
    trajectory.ensure_final()


def add_result(
    trajectory: ObservedTrajectory, result: ObservedResult, pending: list[ObservedToolCall]
) -> None:
    """Record ``result`` for its call (by id; else the oldest call still unanswered)."""
    call = next((c for c in pending if c.id == result.call_id), None)
    if call is None and pending and not any(c.id == result.call_id for c in trajectory.calls):
        call = pending[0]
    if call is None:
        return
    pending.remove(call)
    trajectory.results[call.id] = ObservedResult(
        call_id=call.id,
        tool=call.tool,
        ok=result.ok,
        result=result.result,
        error=result.error,
        error_type=result.error_type,
    )
