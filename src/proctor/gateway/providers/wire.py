"""OpenAI's chat-completions wire format: the one reading of it every provider shares.

``chat_request`` builds a request body from our messages and tools (a tool's ``.`` travels
as ``__``); ``response_of``, ``delta_of`` and ``usage_of`` read a completion, a streamed
chunk and a usage back into ours, tools named as we name them; ``tool_call`` and
``call_arguments`` are a call's arguments as the text the wire carries; ``status_error``
turns an HTTP error answer into the ``ModelCallError`` kind a router acts on. The SDK
client (``openai``) and the lean one (``openai_lean``) differ only in how the bytes travel;
the endpoint (``proctor.endpoint``) speaks the same format the other way round.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from proctor.errors import ConfigError
from proctor.gateway._errors import ModelCallError
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
from proctor.gateway.providers._dialect import openai_fields, openai_part, openai_tool_result
from proctor.gateway.providers._wire_errors import retry_after_s, status_error
from proctor.store import RecordedToolCall, Usage

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletionMessageParam,
        ChatCompletionMessageToolCallParam,
        ChatCompletionToolParam,
    )

__all__ = [
    "DONE",
    "call_arguments",
    "chat_request",
    "delta_of",
    "response_of",
    "retry_after_s",
    "status_error",
    "tool_call",
    "usage_of",
]

DONE = b"[DONE]"
"""The ``data`` of the event that ends a stream."""

# What OpenAI accepts as a function name; our tool names also contain dots.
_WIRE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


# Requests ---------------------------------------------------------------------------------


def chat_request(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    max_tokens: int | None,
    temperature: float | None,
    stream: bool = False,
    extra: Mapping[str, Any] | None = None,
    where: str = "",
) -> tuple[dict[str, Any], dict[str, str]]:
    """The request body, and each tool's name as the answer will spell it (wire -> ours).

    A streamed request always asks for the usage chunk: cost and rate limits need it,
    whatever the caller wants. ``extra`` (``CallSettings.extra``) is sent beside the
    fields built here, what a client of Anthropic's API sent translated (``_dialect``);
    ``where`` names the model in refusals.
    """
    wire_names = _wire_names(tools)
    payload: dict[str, Any] = {
        "model": model,
        "messages": [_message_param(m, wire_names, where) for m in messages],
    }
    if tools:
        payload["tools"] = [_tool_param(t, wire_names[t.name]) for t in tools]
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    if temperature is not None:
        payload["temperature"] = temperature
    if stream:
        payload["stream"], payload["stream_options"] = True, {"include_usage": True}
    if extra:
        fields = openai_fields(extra, lambda n: wire_names.get(n, _wire(n)), where)
        for key, value in fields.items():
            payload.setdefault(key, value)
    return payload, {wire: name for name, wire in wire_names.items()}


def _wire_names(tools: Sequence[ToolSpec]) -> dict[str, str]:
    """Map each tool name to an allowed function name (``erp.fetch_po`` -> ``erp__fetch_po``)."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for tool in tools:
        wire = _wire(tool.name)
        if not _WIRE_NAME.match(wire):
            raise ConfigError(
                f"tool name {tool.name!r} cannot be sent to an OpenAI-compatible API: "
                f"use letters, digits, '_', '-' and '.', at most 64 characters"
            )
        if owners.setdefault(wire, tool.name) != tool.name:
            raise ConfigError(
                f"tools {owners[wire]!r} and {tool.name!r} both become {wire!r} for the "
                f"OpenAI API ('.' is sent as '__'): rename one of them"
            )
        names[tool.name] = wire
    return names


def _wire(name: str) -> str:
    return name.replace(".", "__")


def _tool_param(tool: ToolSpec, wire_name: str) -> ChatCompletionToolParam:
    param: ChatCompletionToolParam = {
        "type": "function",
        "function": {
            "name": wire_name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
    if tool.strict is not None:
        param["function"]["strict"] = tool.strict
    return param


def _message_param(
    message: Message, wire_names: Mapping[str, str], where: str
) -> ChatCompletionMessageParam:
    match message:
        case SystemMessage():
            return {"role": "system", "content": message.content}
        case UserMessage():
            if message.parts is not None:  # images, audio, files: as the client sent them
                parts: Any = [openai_part(part, where) for part in message.parts]
                return {"role": "user", "content": parts}
            return {"role": "user", "content": message.content}
        case ToolMessage():
            for block in message.parts or ():
                openai_tool_result(block, where)
            return {"role": "tool", "tool_call_id": message.call_id, "content": message.content}
        case AssistantMessage():
            calls: list[ChatCompletionMessageToolCallParam] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        # Earlier turns may name tools not offered now: encode them the same way.
                        "name": wire_names.get(call.name, _wire(call.name)),
                        # Always valid JSON: some servers parse the history and would
                        # fail the whole request on the model's own malformed arguments.
                        "arguments": json.dumps(call.arguments),
                    },
                }
                for call in message.tool_calls
            ]
            if calls:
                return {"role": "assistant", "content": message.text, "tool_calls": calls}
            return {"role": "assistant", "content": message.text}


# Tool calls -------------------------------------------------------------------------------


def tool_call(call_id: str, name: str, raw: str) -> RecordedToolCall:
    """A call whose arguments arrived as text: parsed, or kept raw if not a JSON object."""
    try:
        arguments = json.loads(raw)
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        # Not a JSON object: the runtime reports invalid arguments back to the model.
        return RecordedToolCall(id=call_id, name=name, arguments={}, raw_arguments=raw)
    return RecordedToolCall(id=call_id, name=name, arguments=arguments)


def call_arguments(call: RecordedToolCall) -> str:
    """A call's arguments as the wire carries them: what the model sent, even if not JSON
    (the client's runtime decides what to make of it)."""
    if call.raw_arguments is not None:
        return call.raw_arguments
    return orjson.dumps(call.arguments).decode()


# Answers ----------------------------------------------------------------------------------


def usage_of(usage: Mapping[str, Any]) -> Usage:
    """A ``usage`` object; prompt tokens served from the provider's cache are counted apart
    (they are billed at their own rate), and so are reasoning tokens."""
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_input_tokens=prompt.get("cached_tokens") or 0,
        cache_write_tokens=prompt.get("cache_write_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
    )


def response_of(raw: bytes, *, model: str, names: Mapping[str, str], where: str) -> ModelResponse:
    """A ``chat.completion`` body as our response; tool names back to ours via ``names``.

    ``where`` names the model and endpoint for messages (``model 'm' at https://...``).
    Raises ``ModelCallError`` (``invalid_response``) for a body of another shape.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ModelCallError(
            f"{where} answered with a body that is not valid JSON: check that the base URL "
            "points at an OpenAI-compatible API (usually ending in /v1)",
            kind="invalid_response",
        ) from exc
    try:
        if not data["choices"]:
            raise ModelCallError(
                f"the provider returned no choices for {where}: the server accepted the "
                "request but produced no answer; check its logs",
                kind="invalid_response",
            )
        choice = data["choices"][0]
        message = choice["message"]
        calls: list[RecordedToolCall] = []  # a loop: no generator to set up on the hot path
        for call in message.get("tool_calls") or ():
            calls.append(_answered_call(call, names))
        usage = data.get("usage") or {}
        return ModelResponse(
            model=model,
            text=message.get("content") or None,
            tool_calls=tuple(calls),
            usage=usage_of(usage),
            finish_reason=choice.get("finish_reason") or ("tool_calls" if calls else "stop"),
            extra=answer_extra(data, choice, message, usage),
            response_id=_text_or_none(data.get("id")),
        )
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ModelCallError(
            f"{where} answered JSON that is not a chat completion ({exc!r}): check that the "
            "server is OpenAI-compatible",
            kind="invalid_response",
        ) from exc


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_READ = {
    "response": frozenset({"id", "object", "created", "model", "choices", "usage"}),
    "choice": frozenset({"index", "message", "finish_reason"}),
    "message": frozenset({"role", "content", "tool_calls"}),
    "usage": frozenset({"prompt_tokens", "completion_tokens", "total_tokens"}),
}


def answer_extra(
    data: Mapping[str, Any], choice: Any, message: Any, usage: Any
) -> dict[str, Any] | None:
    """What an answer holds beyond what Proctor reads, by where it was (see
    ``ModelResponse.extra``); ``None`` values (``refusal: null``) are left out."""
    extra: dict[str, Any] = {}
    for where, part in (
        ("response", data),
        ("choice", choice),
        ("message", message),
        ("usage", usage),
    ):
        if isinstance(part, dict):
            kept = {k: v for k, v in part.items() if v is not None and k not in _READ[where]}
            if kept:
                extra[where] = kept
    return extra or None


def _answered_call(call: dict[str, Any], names: Mapping[str, str]) -> RecordedToolCall:
    if call.get("type") == "custom":  # a free-text tool call: we never offer those
        name, raw = call["custom"]["name"], call["custom"]["input"]
    else:
        name, raw = call["function"]["name"], call["function"]["arguments"]
    return tool_call(call["id"], names.get(name, name), raw)


def delta_of(chunk: Any, names: Mapping[str, str], where: str) -> ModelDelta:
    """One parsed ``chat.completion.chunk`` as a delta; tool names back to ours via ``names``.

    Raises ``ModelCallError`` (``invalid_response``) for an error event or a chunk of
    another shape.
    """
    try:
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            # The SDK's words for the same event, so both clients report it alike.
            raise ModelCallError(
                f"{where} failed: {message or 'An error occurred during streaming'}",
                kind="invalid_response",
            )
        usage = chunk.get("usage")
        choices = chunk.get("choices")
        if not choices:
            return ModelDelta(usage=None if usage is None else usage_of(usage))
        choice = choices[0]
        delta = choice.get("delta") or {}
        calls = delta.get("tool_calls")
        return ModelDelta(
            text=delta.get("content"),
            tool_calls=() if not calls else tuple(_call_delta(call, names) for call in calls),
            finish_reason=choice.get("finish_reason"),
            usage=None if usage is None else usage_of(usage),
            extra=_chunk_extra(chunk, choice, delta),
        )
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise ModelCallError(
            f"{where} streamed a chunk that is not a chat-completion chunk ({exc!r}): check "
            "that the server is OpenAI-compatible",
            kind="invalid_response",
        ) from exc


_CHUNK_FIELDS = frozenset({"id", "object", "created", "model", "choices", "usage"})
_CHOICE_FIELDS = frozenset({"index", "delta", "finish_reason"})
_DELTA_FIELDS = frozenset({"role", "content", "tool_calls"})


def _chunk_extra(
    chunk: dict[str, Any], choice: dict[str, Any], delta: dict[str, Any]
) -> dict[str, Any] | None:
    """What a chunk holds beyond the fields the gateway reads, to be relayed as it came."""
    extra: dict[str, Any] = {}
    for where, fields, known in (
        ("chunk", chunk, _CHUNK_FIELDS),
        ("choice", choice, _CHOICE_FIELDS),
        ("delta", delta, _DELTA_FIELDS),
    ):
        if fields.keys() - known:
            found = {k: v for k, v in fields.items() if k not in known and v is not None}
            if found:
                extra[where] = found
    return extra or None


def _call_delta(call: dict[str, Any], names: Mapping[str, str]) -> ToolCallDelta:
    function = call.get("function") or {}
    name = function.get("name")
    return ToolCallDelta(
        index=call["index"],
        id=call.get("id"),
        name=None if name is None else names.get(name, name),
        arguments=function.get("arguments") or "",
    )
