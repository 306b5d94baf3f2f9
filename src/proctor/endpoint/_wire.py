"""OpenAI's chat-completions wire format at the endpoint: requests in, completions out.

The inverse of ``proctor.gateway.providers.wire``: there our messages become OpenAI's;
here OpenAI's become ours. Requests are validated by pydantic straight from the JSON
bytes (one pass, in Rust); responses are plain dicts serialised with orjson. Streamed
answers are ``_stream``'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

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
from proctor.gateway.providers.wire import call_arguments, tool_call
from proctor.store import RecordedToolCall, Usage, json_value_problem


def _route_name(model: str) -> str:
    # It is recorded in the call ledger: PostgreSQL's text refuses NUL.
    if any(ord(c) < 32 for c in model):
        raise ValueError("a model (route) name has no control characters; see GET /v1/models")
    return model


RouteName = Annotated[str, Field(max_length=256), AfterValidator(_route_name)]
"""The ``model`` of a request, in every API the endpoint speaks."""


class WireError(ValueError):
    """A request body that is not a chat-completions request we can serve."""


class _Wire(BaseModel):
    # Clients send many optional fields (top_p, user, seed, ...): ignored, not refused.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _TextPart(_Wire):
    type: Literal["text"]
    text: str


class _OtherPart(BaseModel):
    """A content part that is not text (``image_url``, ``input_audio``, ``file``): kept
    whole, to be sent upstream as it came."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str


_Content = str | list[_TextPart]
_UserContent = str | list[Annotated[_TextPart | _OtherPart, Field(union_mode="left_to_right")]]


class _Function(_Wire):
    name: str
    arguments: str = ""


class _ToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: _Function


class _System(_Wire):
    role: Literal["system", "developer"]
    content: _Content


class _User(_Wire):
    role: Literal["user"]
    content: _UserContent


class _Assistant(_Wire):
    role: Literal["assistant"]
    content: _Content | None = None
    tool_calls: list[_ToolCall] | None = None


class _Tool(_Wire):
    role: Literal["tool"]
    tool_call_id: str
    content: _Content


_Message = Annotated[_System | _User | _Assistant | _Tool, Field(discriminator="role")]


class _FunctionDef(_Wire):
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _ToolDef(_Wire):
    type: Literal["function"]
    function: _FunctionDef


class _StreamOptions(_Wire):
    include_usage: bool = False


MAX_TOKENS = 2**31 - 1
"""Largest token count a request may ask for: what upstreams accept (a 32-bit integer)."""


class ChatRequest(_Wire):
    """The fields of an OpenAI chat-completions request the gateway acts on.

    Other fields (``tool_choice``, ``response_format``, ``seed``, ``top_p``, ``stop``,
    ``user``, ...) are sent to the upstream as they are (``CallSettings.extra``), after a
    check that JSON can hold them: a value no encoder can write, such as an integer beyond
    64 bits, would otherwise fail after the gateway accepted the call.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model: RouteName
    messages: list[_Message] = Field(min_length=1)
    tools: list[_ToolDef] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, gt=0, le=MAX_TOKENS)
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    """Only one choice: a gateway that fans out would multiply the cost behind the key."""

    @model_validator(mode="after")
    def _encodable(self) -> ChatRequest:
        # Tool schemas are sent upstream and hashed into cache keys as they are.
        values: dict[str, Any] = dict(self.model_extra or {})
        for index, tool in enumerate(self.tools or ()):
            values[f"tools.{index}.function.parameters"] = tool.function.parameters
        for name, value in values.items():
            problem = json_value_problem(value, where=name)
            if problem is not None:
                raise ValueError(problem)
        return self

    def to_messages(self) -> list[Message]:
        messages: list[Message] = []
        names: dict[str, str] = {}  # tool-call id -> tool name: OpenAI's tool role omits it
        for wire in self.messages:
            if isinstance(wire, _System):
                messages.append(SystemMessage(content=_text(wire.content)))
            elif isinstance(wire, _User):
                messages.append(_user(wire.content))
            elif isinstance(wire, _Assistant):
                calls = tuple(
                    tool_call(c.id, c.function.name, c.function.arguments)
                    for c in wire.tool_calls or ()
                )
                names.update((c.id, c.name) for c in calls)
                text = None if wire.content is None else _text(wire.content)
                messages.append(AssistantMessage(text=text, tool_calls=calls))
            else:
                name = names.get(wire.tool_call_id, "")
                content = _text(wire.content)
                messages.append(ToolMessage(call_id=wire.tool_call_id, name=name, content=content))
        return messages

    def to_tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name=t.function.name,
                description=t.function.description,
                parameters=t.function.parameters or {"type": "object", "properties": {}},
                strict=t.function.strict,
            )
            for t in self.tools or ()
        ]

    def settings(self) -> CallSettings | None:
        max_tokens = self.max_completion_tokens or self.max_tokens
        extra = {k: v for k, v in (self.model_extra or {}).items() if v is not None} or None
        if max_tokens is None and self.temperature is None and extra is None:
            return None
        return CallSettings(max_tokens=max_tokens, temperature=self.temperature, extra=extra)


def _text(content: str | Sequence[_TextPart | _OtherPart]) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, _TextPart))


def _user(content: str | Sequence[_TextPart | _OtherPart]) -> UserMessage:
    """A user message; one with parts other than text keeps them all, as sent."""
    if isinstance(content, str) or all(isinstance(part, _TextPart) for part in content):
        return UserMessage(content=_text(content))
    parts = tuple(part.model_dump(mode="json", exclude_none=True) for part in content)
    return UserMessage(content=_text(content), parts=parts)


def parse_request(body: bytes) -> ChatRequest:
    """Validate a request body; ``WireError`` says what is wrong, field by field."""
    try:
        return ChatRequest.model_validate_json(body)
    except ValidationError as exc:
        raise WireError(explain(exc)) from None


def explain(exc: ValidationError, limit: int = 3) -> str:
    """A validation error as one readable line: ``messages.0.role: ...; model: ...``."""
    problems = []
    for error in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"invalid request body: {'; '.join(problems)}{suffix}"


# Responses --------------------------------------------------------------------------------


def _wire_calls(calls: Sequence[RecordedToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call_arguments(call)},
        }
        for call in calls
    ]


def usage_wire(usage: Usage) -> dict[str, Any]:
    """Usage in OpenAI's shape (``prompt_tokens``, ``completion_tokens``, ...)."""
    wire: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total,
    }
    if usage.cached_input_tokens or usage.cache_write_tokens:
        prompt: dict[str, int] = {"cached_tokens": usage.cached_input_tokens}
        if usage.cache_write_tokens:
            prompt["cache_write_tokens"] = usage.cache_write_tokens
        wire["prompt_tokens_details"] = prompt
    if usage.reasoning_tokens:
        wire["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return wire


def completion(response: ModelResponse, completion_id: str, created: int) -> bytes:
    """A ``chat.completion`` object, with whatever else the upstream's answer held
    (``ModelResponse.extra``) where it was."""
    message: dict[str, Any] = {"role": "assistant", "content": response.text}
    if response.tool_calls:
        message["tool_calls"] = _wire_calls(response.tool_calls)
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": response.finish_reason,
        "logprobs": None,
    }
    usage = usage_wire(response.usage)
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": response.model,
        "choices": [choice],
        "usage": usage,
    }
    extra = response.extra
    if extra:
        for where, target in (("response", body), ("choice", choice), ("message", message)):
            for key, value in extra.get(where, {}).items():
                target.setdefault(key, value)
        choice["logprobs"] = extra.get("choice", {}).get("logprobs")
        for key, value in extra.get("usage", {}).items():
            usage[key] = value  # the upstream's token details are the whole truth
    return orjson.dumps(body)


def error(message: str, kind: str, code: str | None = None) -> bytes:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def now_s() -> int:
    return int(time.time())
