"""Anthropic's Messages API wire format: requests from our messages, answers and stream
events back into ours.

``messages_request`` builds a body (system prompt apart, tool results as ``tool_result``
blocks of a user turn, a tool's ``.`` sent as ``__``); ``response_of`` reads a ``message``;
``StreamReader`` turns the events of a streamed one into ``ModelDelta``\\ s. Anthropic's
``input_tokens`` leaves out prompt tokens read from or written to its cache; ours count
them (``Usage.input_tokens`` is the whole prompt), so they are added back here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from proctor.errors import ConfigError
from proctor.gateway._errors import ErrorKind, ModelCallError
from proctor.gateway._types import (
    AssistantMessage,
    Message,
    ModelDelta,
    ModelResponse,
    SystemMessage,
    ToolCallDelta,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway.providers._dialect import (
    ANTHROPIC_BLOCKS,
    anthropic_fields,
    anthropic_part,
)
from proctor.store import RecordedToolCall, Usage

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Sent when the call sets no ``max_tokens`` (the API requires one): every Claude model
can write this much."""

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic's ``stop_reason`` as a chat-completions ``finish_reason``."""

_WIRE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def wire_name(name: str) -> str:
    return name.replace(".", "__")


# Requests ---------------------------------------------------------------------------------


def messages_request(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    extra: Mapping[str, Any] | None,
    where: str,
) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """The body, each tool's name as the answer spells it (wire -> ours), and the
    ``anthropic-beta`` header the caller asked for."""
    names: dict[str, str] = {}
    wire_tools: list[dict[str, Any]] = []
    for tool in tools:
        wire = wire_name(tool.name)
        if not _WIRE_NAME.match(wire):
            raise ConfigError(
                f"tool name {tool.name!r} cannot be sent to Anthropic's API: use letters, "
                "digits, '_', '-' and '.', at most 64 characters"
            )
        if names.setdefault(wire, tool.name) != tool.name:
            raise ConfigError(
                f"tools {names[wire]!r} and {tool.name!r} both become {wire!r} for "
                "Anthropic's API ('.' is sent as '__'): rename one of them"
            )
        spec: dict[str, Any] = {"name": wire, "input_schema": tool.parameters}
        if tool.description:
            spec["description"] = tool.description
        wire_tools.append(spec)
    system, turns = _conversation(messages, where)
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        "messages": turns,
    }
    if system is not None:
        payload["system"] = system
    if wire_tools:
        payload["tools"] = wire_tools
    if temperature is not None:
        payload["temperature"] = temperature
    if stream:
        payload["stream"] = True
    beta = None
    if extra:
        fields, beta = anthropic_fields(extra, wire_name, where)
        for key, value in fields.items():
            payload.setdefault(key, value)
    return payload, names, beta


def _anthropic(parts: tuple[dict[str, Any], ...] | None) -> bool:
    """Whether a message's blocks are Anthropic's (another API's are not sent here)."""
    return parts is not None and all(p.get("type") in ANTHROPIC_BLOCKS for p in parts)


def _conversation(
    messages: Sequence[Message], where: str
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """The system prompt (every system message, in order: the API has one, at the top)
    and the turns, consecutive ones of a role merged (tool results join the user turn)."""
    system: list[dict[str, Any]] = []
    system_blocks = False
    turns: list[dict[str, Any]] = []
    for message in messages:
        content: str | list[dict[str, Any]]
        match message:
            case SystemMessage():
                if _anthropic(message.parts):
                    system.extend(message.parts or ())
                    system_blocks = True
                elif message.content:
                    system.append({"type": "text", "text": message.content})
                continue
            case UserMessage():
                role = "user"
                if message.parts is None:
                    content = message.content
                else:
                    content = [anthropic_part(part, where) for part in message.parts]
            case ToolMessage():
                role = "user"
                if _anthropic(message.parts):
                    content = list(message.parts or ())
                else:
                    result = {"type": "tool_result", "tool_use_id": message.call_id}
                    content = [{**result, "content": message.content}]
            case AssistantMessage():
                role = "assistant"
                if _anthropic(message.parts):
                    content = list(message.parts or ())
                else:
                    content = [{"type": "text", "text": message.text}] if message.text else []
                    for call in message.tool_calls:
                        content.append(
                            {
                                "type": "tool_use",
                                "id": call.id,
                                "name": wire_name(call.name),
                                "input": call.arguments,
                            }
                        )
                if not content:
                    continue  # an empty turn: the API refuses empty content
        if turns and turns[-1]["role"] == role:
            previous = turns[-1]["content"]
            if isinstance(previous, str):
                previous = turns[-1]["content"] = [{"type": "text", "text": previous}]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            previous.extend(content)
        else:
            turns.append({"role": role, "content": content})
    if not system:
        return None, turns
    if system_blocks:
        return system, turns
    return "\n\n".join(block["text"] for block in system), turns


# Answers ----------------------------------------------------------------------------------


def usage_of(usage: Mapping[str, Any]) -> Usage:
    """Anthropic's usage in ours: cache reads and writes are part of the input."""
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=(usage.get("input_tokens") or 0) + read + written,
        output_tokens=usage.get("output_tokens") or 0,
        cached_input_tokens=read,
        cache_write_tokens=written,
    )


def response_of(raw: bytes, *, model: str, names: Mapping[str, str], where: str) -> ModelResponse:
    """A ``message`` body as our response. Thinking blocks are kept in ``extra``
    (``message.thinking_blocks``, and their text as ``reasoning_content``), as are the
    ``stop_sequence`` that ended it (``anthropic``)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ModelCallError(
            f"{where} answered with a body that is not valid JSON: check that base_url "
            "points at Anthropic's API (https://api.anthropic.com)",
            kind="invalid_response",
        ) from exc
    try:
        texts: list[str] = []
        calls: list[RecordedToolCall] = []
        thinking: list[dict[str, Any]] = []
        for block in data["content"]:
            kind = block["type"]
            if kind == "text":
                texts.append(block["text"])
            elif kind == "tool_use":
                name = names.get(block["name"], block["name"])
                calls.append(RecordedToolCall(id=block["id"], name=name, arguments=block["input"]))
            elif kind in ("thinking", "redacted_thinking"):
                thinking.append(block)
        reason = data.get("stop_reason")
        return ModelResponse(
            model=model,
            text="".join(texts) or None,
            tool_calls=tuple(calls),
            usage=usage_of(data.get("usage") or {}),
            finish_reason=FINISH.get(reason, "tool_calls" if calls else "stop"),
            extra=answer_extra(thinking, data.get("stop_sequence")),
            response_id=answer_id if isinstance(answer_id := data.get("id"), str) else None,
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelCallError(
            f"{where} answered JSON that is not a message ({exc!r}): check that base_url "
            "points at Anthropic's API",
            kind="invalid_response",
        ) from exc


def answer_extra(
    thinking: Sequence[dict[str, Any]], stop_sequence: str | None
) -> dict[str, Any] | None:
    """What an answer holds beyond text and tool calls (``ModelResponse.extra``)."""
    extra: dict[str, Any] = {}
    if thinking:
        reasoning = "".join(b.get("thinking", "") for b in thinking if b["type"] == "thinking")
        extra["message"] = {"reasoning_content": reasoning, "thinking_blocks": list(thinking)}
    if stop_sequence is not None:
        extra["anthropic"] = {"stop_sequence": stop_sequence}
    return extra or None


def error_of(raw: bytes) -> object:
    """The ``error`` object of an error answer (``{"type": "error", "error": {...}}``)."""
    try:
        parsed: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed.get("error", parsed) if isinstance(parsed, dict) else parsed


_EVENT_ERRORS: dict[str, ErrorKind] = {
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "rate_limit_error": "rate_limited",
}


class StreamReader:
    """One streamed message's events as deltas; the usage of ``message_start`` and
    ``message_delta`` is merged and sent with the finish reason.

    Tool calls are numbered among tool calls (``ToolCallDelta.index``), not among blocks;
    a call whose input never streamed gets ``{}``.
    """

    __slots__ = ("_calls", "_names", "_silent", "_usage", "_where")

    def __init__(self, names: Mapping[str, str], where: str) -> None:
        self._names = names
        self._where = where
        self._calls: dict[int, int] = {}  # block index -> call index
        self._silent: set[int] = set()  # calls whose input has not streamed yet
        self._usage: dict[str, Any] = {}

    def event(self, data: bytes) -> ModelDelta | None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ModelCallError(
                f"{self._where} streamed an event that is not JSON ({data[:80]!r})",
                kind="invalid_response",
            ) from None
        try:
            return self._read(event)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelCallError(
                f"{self._where} streamed an event that is not a Messages event ({exc!r})",
                kind="invalid_response",
            ) from exc

    def _read(self, event: dict[str, Any]) -> ModelDelta | None:
        kind = event["type"]
        if kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                return ModelDelta(text=delta["text"])
            if delta["type"] == "input_json_delta" and delta["partial_json"]:
                call = self._calls[event["index"]]
                self._silent.discard(call)
                part = ToolCallDelta(index=call, arguments=delta["partial_json"])
                return ModelDelta(tool_calls=(part,))
            return None  # thinking, signatures, citations: not relayed by the gateway
        if kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "text":
                return ModelDelta(text=block["text"]) if block.get("text") else None
            if block["type"] == "tool_use":
                call = self._calls[event["index"]] = len(self._calls)
                self._silent.add(call)
                name = self._names.get(block["name"], block["name"])
                start = ToolCallDelta(index=call, id=block["id"], name=name)
                return ModelDelta(tool_calls=(start,))
            return None
        if kind == "content_block_stop":
            stopped = self._calls.get(event["index"])
            if stopped is not None and stopped in self._silent:
                self._silent.discard(stopped)
                return ModelDelta(tool_calls=(ToolCallDelta(index=stopped, arguments="{}"),))
            return None
        if kind == "message_start":
            self._usage.update(event["message"].get("usage") or {})
            return ModelDelta(text="")
        if kind == "message_delta":
            usage = event.get("usage") or {}
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            reason = event["delta"].get("stop_reason")
            finish = None if reason is None else FINISH.get(reason, "stop")
            return ModelDelta(finish_reason=finish, usage=usage_of(self._usage))
        if kind == "error":
            error = event.get("error") or {}
            raise ModelCallError(
                f"{self._where} failed while streaming: {error.get('message') or error}",
                kind=_EVENT_ERRORS.get(error.get("type", ""), "invalid_response"),
            )
        return None  # ping, message_stop, and event types added later
