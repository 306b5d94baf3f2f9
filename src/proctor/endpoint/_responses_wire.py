"""A Responses API request (``POST /v1/responses``) in the gateway's terms.

The gateway's upstreams speak chat completions, so a request is translated to what they
take: ``input`` items to messages (``function_call`` items join the assistant turn before
them, ``function_call_output`` items become tool results), ``instructions`` to a system
message first, flat function tools to tools, ``max_output_tokens`` and ``temperature`` to
the call's settings, and the rest to chat completions' own fields, sent upstream through
``CallSettings.extra``: ``tool_choice`` (reshaped), ``text.format`` as ``response_format``,
``text.verbosity`` as ``verbosity``, ``reasoning.effort`` as ``reasoning_effort``,
``top_p``, ``parallel_tool_calls``, ``user`` and any field this module does not know.

What needs state or OpenAI's own servers is refused with a 400 that names the field and
the fix (``REFUSED``): the gateway keeps no responses (``store``, ``previous_response_id``,
``conversation``), has no hosted tools, and cannot produce what chat completions do not
return (``include``, ``top_logprobs``, reasoning summaries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proctor.endpoint._wire import MAX_TOKENS, WireError, explain
from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Message,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway.providers.wire import tool_call
from proctor.store import RecordedToolCall, json_value_problem

_NO_STORE = "this gateway keeps no responses"
_WHOLE = "send the whole conversation as input each turn (earlier output items included)"

REFUSED: dict[str, str] = {
    "previous_response_id": f"{_NO_STORE}, so it cannot continue one. Fix: {_WHOLE}, "
    "without previous_response_id",
    "conversation": f"{_NO_STORE} or conversations. Fix: {_WHOLE}, without conversation",
    "prompt": "stored prompt templates live at OpenAI, not here. Fix: send instructions "
    "and input instead",
    "top_logprobs": "log probabilities are not relayed on this route. Fix: leave it out, or "
    "use /v1/chat/completions with logprobs",
    "context_management": "the gateway does not compact conversations on the server. Fix: "
    "leave it out",
}
"""Fields refused whenever they have a value, with why and the fix."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_T = TypeVar("_T", bound=_Wire)


class _FunctionCall(_Wire):
    type: Literal["function_call"]
    call_id: str
    name: str = Field(min_length=1)
    arguments: str = ""


class _FunctionCallOutput(_Wire):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[dict[str, Any]]


class _Message(_Wire):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[dict[str, Any]]


class _Format(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class _Text(_Wire):
    format: _Format | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class _Reasoning(_Wire):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class ResponsesRequest(BaseModel):
    """The fields of a Responses API request the gateway acts on; others are sent upstream
    as they came (``CallSettings.extra``), after a check that JSON can hold them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model: str = Field(max_length=256)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, gt=0, le=MAX_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    text: _Text | None = None
    stream: bool | None = False
    metadata: dict[str, str] | None = None
    store: bool | None = None
    parallel_tool_calls: bool | None = None
    reasoning: _Reasoning | None = None
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    background: bool | None = None
    stream_options: dict[str, Any] | None = None
    """Only ``include_obfuscation``: no padding is added, so there is nothing to turn off."""
    max_tool_calls: int | None = Field(default=None, ge=0)
    """Caps calls of hosted tools, which this gateway has none of: nothing to limit."""

    @field_validator("model")
    @classmethod
    def _route_name(cls, model: str) -> str:
        if any(ord(c) < 32 for c in model):
            raise ValueError("a model (route) name has no control characters; see GET /v1/models")
        return model


@dataclass(frozen=True, kw_only=True, slots=True)
class Echo:
    """What the response object repeats of its request."""

    instructions: str | None
    metadata: dict[str, str]
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    temperature: float | None
    top_p: float | None
    max_output_tokens: int | None
    parallel_tool_calls: bool
    text: dict[str, Any]
    reasoning: dict[str, Any] | None
    user: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponsesCall:
    """A parsed request: the gateway's messages, tools and settings, and the echo."""

    route: str
    messages: list[Message]
    tools: list[ToolSpec]
    settings: CallSettings | None
    stream: bool
    echo: Echo


def parse_responses(body: bytes) -> ResponsesCall:
    """Validate and translate a request; ``WireError`` names the field and the fix."""
    try:
        request = ResponsesRequest.model_validate_json(body)
    except ValidationError as exc:
        raise WireError(explain(exc)) from None
    _refuse(request)
    tools = [_tool(index, tool) for index, tool in enumerate(request.tools or ())]
    messages: list[Message] = []
    if request.instructions:
        messages.append(SystemMessage(content=request.instructions))
    messages += _messages(request.input)
    extra = _extra(request)
    settings = None
    if request.max_output_tokens is not None or request.temperature is not None or extra:
        settings = CallSettings(
            max_tokens=request.max_output_tokens,
            temperature=request.temperature,
            extra=extra or None,
        )
    text = request.text.model_dump(by_alias=True, exclude_none=True) if request.text else {}
    return ResponsesCall(
        route=request.model,
        messages=messages,
        tools=tools,
        settings=settings,
        stream=bool(request.stream),
        echo=Echo(
            instructions=request.instructions,
            metadata=request.metadata or {},
            tools=list(request.tools or ()),
            tool_choice=request.tool_choice or "auto",
            temperature=request.temperature,
            top_p=request.top_p,
            max_output_tokens=request.max_output_tokens,
            parallel_tool_calls=request.parallel_tool_calls is not False,
            text={"format": {"type": "text"}, **text},
            reasoning=None if request.reasoning is None else request.reasoning.model_dump(),
            user=(request.model_extra or {}).get("user"),
        ),
    )


def _fail(where: str, why: str) -> WireError:
    return WireError(f"invalid request body: {where}: {why}")


def _refuse(request: ResponsesRequest) -> None:
    if request.store:
        raise _fail(
            "store",
            f"true is not supported: {_NO_STORE}. Fix: send store: false (or "
            f"leave it out) and {_WHOLE}",
        )
    if request.background:
        raise _fail(
            "background",
            "true is not supported: the answer comes in the request's "
            "own HTTP response. Fix: leave background out (stream: true for long answers)",
        )
    if request.include:
        raise _fail(
            "include",
            f"{', '.join(request.include)} cannot be added: the upstreams "
            "speak chat completions, which return none of it. Fix: leave include out",
        )
    if request.truncation == "auto":
        raise _fail(
            "truncation",
            "auto is not supported: the gateway drops no input items (a "
            "prompt too long falls back to a model with a larger context window, else "
            "400). Fix: leave truncation out, or shorten the input",
        )
    summary = request.reasoning and (
        request.reasoning.summary or request.reasoning.generate_summary
    )
    if summary and summary != "auto":
        raise _fail(
            "reasoning.summary",
            f"{summary!r} cannot be produced: chat-completions "
            "upstreams return no reasoning summaries. Fix: leave it out, or send 'auto'",
        )
    extra = request.model_extra or {}
    for name, why in REFUSED.items():
        if extra.get(name) is not None:
            raise _fail(name, why)


def _tool(index: int, tool: dict[str, Any]) -> ToolSpec:
    where = f"tools.{index}"
    kind = tool.get("type")
    if kind != "function":
        raise _fail(
            f"{where}.type",
            f"{kind!r} is a tool hosted by OpenAI, not offered here: "
            "only function tools are. Fix: define it as a function tool that your "
            "code runs",
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(f"{where}.name", "a function tool needs a name")
    parameters = tool.get("parameters") or {"type": "object", "properties": {}}
    strict = tool.get("strict")
    for field, value in (("parameters", parameters), ("description", tool.get("description"))):
        problem = json_value_problem(value, where=f"{where}.{field}")
        if problem is not None:
            raise WireError(problem)
    if not isinstance(parameters, dict) or not (strict is None or isinstance(strict, bool)):
        raise _fail(where, "parameters must be a JSON Schema object and strict a boolean")
    return ToolSpec(
        name=name,
        description=str(tool.get("description") or ""),
        parameters=parameters,
        strict=strict,
    )


def _extra(request: ResponsesRequest) -> dict[str, Any]:
    """The fields sent upstream in chat completions' words (see the module docstring)."""
    extra = {k: v for k, v in (request.model_extra or {}).items() if v is not None}
    for name, value in extra.items():
        problem = json_value_problem(value, where=name)
        if problem is not None:
            raise WireError(problem)
    if request.tool_choice is not None:
        extra["tool_choice"] = _tool_choice(request.tool_choice)
    if request.top_p is not None:
        extra["top_p"] = request.top_p
    if request.parallel_tool_calls is not None:
        extra["parallel_tool_calls"] = request.parallel_tool_calls
    if request.reasoning is not None and request.reasoning.effort is not None:
        extra["reasoning_effort"] = request.reasoning.effort
    if request.text is not None:
        if request.text.verbosity is not None:
            extra["verbosity"] = request.text.verbosity
        response_format = _response_format(request.text.format)
        if response_format is not None:
            extra["response_format"] = response_format
    return extra


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """Chat completions' ``tool_choice`` for a Responses one."""
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise _fail("tool_choice", f"{choice!r} is not one of auto, none, required")
        return choice
    kind = choice.get("type")
    if kind == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools" and isinstance(choice.get("tools"), list):
        tools = []
        for tool in choice["tools"]:
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise _fail("tool_choice.tools", "only function tools may be allowed here")
            tools.append({"type": "function", "function": {"name": tool.get("name")}})
        mode = choice.get("mode", "auto")
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}
    raise _fail(
        "tool_choice",
        f"{kind!r} names a tool this gateway does not offer: only "
        "function tools are (a string, or {'type': 'function', 'name': ...})",
    )


def _response_format(format: _Format | None) -> dict[str, Any] | None:
    if format is None or format.type == "text":
        return None
    if format.type == "json_object":
        return {"type": "json_object"}
    if not format.name or format.schema_ is None:
        raise _fail("text.format", "a json_schema format needs a name and a schema")
    problem = json_value_problem(format.schema_, where="text.format.schema")
    if problem is not None:
        raise WireError(problem)
    schema: dict[str, Any] = {"name": format.name, "schema": format.schema_}
    if format.description is not None:
        schema["description"] = format.description
    if format.strict is not None:
        schema["strict"] = format.strict
    return {"type": "json_schema", "json_schema": schema}


# Input items --------------------------------------------------------------------------------


def _messages(input: str | list[dict[str, Any]]) -> list[Message]:
    """The conversation of ``input``: an assistant turn is its message and the function
    calls after it; a call's output names the call's tool (chat completions' tool role
    does not, and some upstreams need it)."""
    if isinstance(input, str):
        return [UserMessage(content=input)]
    messages: list[Message] = []
    names: dict[str, str] = {}
    turn_text: str | None = None
    turn_calls: list[RecordedToolCall] = []
    in_turn = False

    def close_turn() -> None:
        nonlocal in_turn, turn_text
        if in_turn:
            messages.append(AssistantMessage(text=turn_text, tool_calls=tuple(turn_calls)))
        in_turn, turn_text = False, None
        turn_calls.clear()

    for index, item in enumerate(input):
        where = f"input.{index}"
        kind = item.get("type", "message")
        if kind == "function_call":
            call = _item(_FunctionCall, item, where)
            turn_calls.append(tool_call(call.call_id, call.name, call.arguments))
            names[call.call_id] = call.name
            in_turn = True
        elif kind == "message" and item.get("role") == "assistant":
            close_turn()
            turn_text = _assistant_text(_item(_Message, item, where).content, where) or None
            in_turn = True
        elif kind == "message":
            close_turn()
            messages.append(_message(_item(_Message, item, where), where))
        elif kind == "function_call_output":
            close_turn()
            output = _item(_FunctionCallOutput, item, where)
            content = _output_text(output.output, f"{where}.output")
            name = names.get(output.call_id, "")
            messages.append(ToolMessage(call_id=output.call_id, name=name, content=content))
        else:
            raise _fail(
                f"{where}.type",
                f"{kind!r} items are not supported: this gateway "
                "takes messages, function_call and function_call_output items. Fix: "
                "leave the others out of the input",
            )
    close_turn()
    if not messages:
        raise _fail("input", "holds no message. Fix: send at least one input item")
    return messages


def _item(model: type[_T], item: dict[str, Any], where: str) -> _T:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        message = explain(exc).replace("invalid request body: ", f"invalid request body: {where}.")
        raise WireError(message) from None


def _message(message: _Message, where: str) -> Message:
    if message.role in ("system", "developer"):
        return SystemMessage(content=_plain_text(message.content, where))
    if isinstance(message.content, str):
        return UserMessage(content=message.content)
    parts = [_user_part(part, f"{where}.content.{i}") for i, part in enumerate(message.content)]
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    if all(p["type"] == "text" for p in parts):
        return UserMessage(content=text)
    return UserMessage(content=text, parts=tuple(parts))


def _user_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """A user content part in chat completions' words."""
    kind = part.get("type")
    if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise _fail(
                where,
                "an image by file_id is a file stored at OpenAI, which chat "
                "completions cannot read. Fix: send image_url (an https: or data: URL)",
            )
        return {
            "type": "image_url",
            "image_url": {"url": url, "detail": part.get("detail") or "auto"},
        }
    if kind == "input_file":
        if part.get("file_url") is not None:
            raise _fail(
                where,
                "file_url is not supported by chat-completions upstreams. Fix: "
                "send the file's content as file_data (a base64 data: URL)",
            )
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k) is not None}
        problem = json_value_problem(file, where=where)
        if problem is not None:
            raise WireError(problem)
        return {"type": "file", "file": file}
    raise _fail(
        f"{where}.type",
        f"{kind!r} is not a user content part this gateway takes: "
        "input_text, input_image or input_file",
    )


def _plain_text(content: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if part.get("type") not in ("input_text", "output_text") or not isinstance(
            part.get("text"), str
        ):
            raise _fail(f"{where}.content.{i}", "a system or developer message holds text only")
        texts.append(part["text"])
    return "".join(texts)


def _assistant_text(content: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind in ("output_text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])  # what the model said, so it sees it again
        else:
            raise _fail(
                f"{where}.content.{i}", "an assistant message holds output_text or refusal parts"
            )
    return "".join(texts)


def _output_text(output: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(output, str):
        return output
    texts = []
    for i, part in enumerate(output):
        if part.get("type") != "input_text" or not isinstance(part.get("text"), str):
            raise _fail(
                f"{where}.{i}",
                "a function call's output reaches chat-completions "
                "upstreams as text only. Fix: send the output as a string or input_text parts",
            )
        texts.append(part["text"])
    return "".join(texts)
