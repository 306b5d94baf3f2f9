"""Anthropic's Messages format at the endpoint: requests in, ``message`` objects out.

The inverse of ``proctor.gateway.providers._anthropic_wire``. A request becomes the
gateway's messages: ``system`` a system message, a user turn's ``tool_result`` blocks tool
messages (before the rest of the turn), an assistant turn its text and tool calls. Blocks
beyond plain text and tool calls (images, documents, ``thinking``, ``cache_control``,
``is_error``) are kept as the message's ``parts``, which an Anthropic upstream gets back
as they came and an OpenAI-compatible one gets translated or refuses (``_dialect``).
Fields the gateway does not act on (``tool_choice``, ``stop_sequences``, ``top_p``,
``top_k``, ``metadata``, ``thinking``, ...) travel in ``CallSettings.extra``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.endpoint._wire import MAX_TOKENS, RouteName, WireError, explain
from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Message,
    ModelResponse,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.store import RecordedToolCall, Usage, json_value_problem


class _Block(BaseModel):
    """A content block; its fields are kept whole (``extra="allow"``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str


class _Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["user", "assistant"]
    content: str | list[_Block]


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: str | None = None
    name: str = Field(min_length=1)
    description: str = ""
    input_schema: dict[str, Any] | None = None


class MessagesRequest(BaseModel):
    """The fields of a Messages request the gateway acts on; the others are sent upstream
    as they came (``CallSettings.extra``), once checked that JSON can hold them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model: RouteName
    max_tokens: int = Field(gt=0, le=MAX_TOKENS)
    messages: list[_Turn] = Field(min_length=1)
    system: str | list[_Block] | None = None
    tools: list[_Tool] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    stream: bool | None = False


def parse_messages(body: bytes) -> MessagesRequest:
    """Validate a request body; ``WireError`` says what is wrong, field by field."""
    try:
        request = MessagesRequest.model_validate_json(body)
    except ValidationError as exc:
        raise WireError(explain(exc)) from None
    values: dict[str, Any] = dict(request.model_extra or {})
    for index, tool in enumerate(request.tools or ()):
        values[f"tools.{index}.input_schema"] = tool.input_schema
    for name, value in values.items():
        problem = json_value_problem(value, where=name)
        if problem is not None:
            raise WireError(f"invalid request body: {problem}")
    return request


def to_tools(request: MessagesRequest) -> list[ToolSpec]:
    specs = []
    for index, tool in enumerate(request.tools or ()):
        if tool.type not in (None, "custom"):
            raise WireError(
                f"tools.{index}: a tool of type {tool.type!r} (one of Anthropic's server or "
                "built-in tools) cannot go through this gateway, which checks and records "
                "every tool call. Fix: define it as a tool with name, description and "
                "input_schema"
            )
        if tool.input_schema is None:
            raise WireError(f"tools.{index} ({tool.name!r}): input_schema is required")
        specs.append(
            ToolSpec(name=tool.name, description=tool.description, parameters=tool.input_schema)
        )
    return specs


def settings(request: MessagesRequest) -> CallSettings:
    extra = {k: v for k, v in (request.model_extra or {}).items() if v is not None} or None
    return CallSettings(max_tokens=request.max_tokens, temperature=request.temperature, extra=extra)


def _plain(block: dict[str, Any]) -> bool:
    """A block the gateway's messages hold without ``parts``: text or a tool call, bare."""
    kind = block["type"]
    if kind == "text":
        return block.keys() == {"type", "text"}
    return kind == "tool_use" and block.keys() == {"type", "id", "name", "input"}


def _text(blocks: Sequence[dict[str, Any]]) -> str:
    return "\n".join(b["text"] for b in blocks if b["type"] == "text" and b.get("text"))


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return _text([b for b in content if isinstance(b, dict) and "type" in b])
    return ""


def to_messages(request: MessagesRequest) -> list[Message]:
    messages: list[Message] = []
    if isinstance(request.system, str):
        messages.append(SystemMessage(content=request.system))
    elif request.system:
        blocks = [b.model_dump(mode="json") for b in request.system]
        plain = all(_plain(b) for b in blocks) and len(blocks) == 1
        parts = None if plain else tuple(blocks)
        messages.append(SystemMessage(content=_text(blocks), parts=parts))
    names: dict[str, str] = {}  # tool_use id -> tool name: a tool_result omits it
    for index, turn in enumerate(request.messages):
        if isinstance(turn.content, str):
            text = turn.content
            messages.append(
                UserMessage(content=text) if turn.role == "user" else AssistantMessage(text=text)
            )
            continue
        blocks = [b.model_dump(mode="json") for b in turn.content]
        if turn.role == "assistant":
            messages.append(_assistant(blocks, names, index))
            continue
        rest = []
        for block in blocks:
            if block["type"] != "tool_result":
                rest.append(block)
                continue
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str):
                raise WireError(f"messages.{index}: a tool_result needs its tool_use_id")
            content = block.get("content")
            bare = block.keys() <= {"type", "tool_use_id", "content"} and (
                content is None or isinstance(content, str)
            )
            messages.append(
                ToolMessage(
                    call_id=call_id,
                    name=names.get(call_id, ""),
                    content=_result_text(content),
                    parts=None if bare else (block,),
                )
            )
        if rest:
            plain = len(rest) == 1 and _plain(rest[0])
            parts = None if plain else tuple(rest)
            messages.append(UserMessage(content=_text(rest), parts=parts))
    return messages


def _assistant(blocks: list[dict[str, Any]], names: dict[str, str], index: int) -> Message:
    calls = []
    for block in blocks:
        if block["type"] == "tool_use":
            arguments = block.get("input")
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise WireError(f"messages.{index}: a tool_use block needs its id and name")
            if not isinstance(arguments, dict):
                raise WireError(f"messages.{index}: a tool_use block's input is an object")
            calls.append(RecordedToolCall(id=block["id"], name=block["name"], arguments=arguments))
            names[block["id"]] = block["name"]
    parts = None if all(_plain(b) for b in blocks) else tuple(blocks)
    return AssistantMessage(text=_text(blocks) or None, tool_calls=tuple(calls), parts=parts)


# Answers ----------------------------------------------------------------------------------

STOP_REASON = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
"""A ``finish_reason`` as Anthropic's ``stop_reason``."""


def stop_of(response: ModelResponse) -> tuple[str, str | None]:
    """The answer's ``stop_reason`` and ``stop_sequence``."""
    sequence = ((response.extra or {}).get("anthropic") or {}).get("stop_sequence")
    if sequence is not None:
        return "stop_sequence", sequence
    return STOP_REASON.get(response.finish_reason, "end_turn"), None


def usage_of(usage: Usage) -> dict[str, int]:
    """Usage in Anthropic's shape: ``input_tokens`` leaves out the cache's reads and writes."""
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    return {
        "input_tokens": max(0, uncached),
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    }


def tool_use(call: RecordedToolCall) -> dict[str, Any]:
    arguments = call.arguments
    if call.raw_arguments is not None:  # not a JSON object: the closest the shape allows
        try:
            parsed = orjson.loads(call.raw_arguments or "{}")
        except orjson.JSONDecodeError:
            parsed = None
        arguments = parsed if isinstance(parsed, dict) else {}
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def message(response: ModelResponse, message_id: str) -> bytes:
    """A ``message`` object: thinking (from an Anthropic upstream), text, tool calls."""
    thinking = ((response.extra or {}).get("message") or {}).get("thinking_blocks") or []
    content: list[dict[str, Any]] = list(thinking)
    if response.text:
        content.append({"type": "text", "text": response.text})
    content.extend(tool_use(call) for call in response.tool_calls)
    stop_reason, stop_sequence = stop_of(response)
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_of(response.usage),
    }
    return orjson.dumps(body)
