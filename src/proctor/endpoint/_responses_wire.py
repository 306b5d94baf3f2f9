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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.endpoint._responses_input import fail, input_messages
from proctor.endpoint._wire import MAX_TOKENS, RouteName, WireError, explain
from proctor.gateway import (
    CallSettings,
    Message,
    SystemMessage,
    ToolSpec,
)
from proctor.store import json_value_problem

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

    model: RouteName
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
    messages += input_messages(request.input)
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


def _refuse(request: ResponsesRequest) -> None:
    if request.store:
        raise fail(
            "store",
            f"true is not supported: {_NO_STORE}. Fix: send store: false (or "
            f"leave it out) and {_WHOLE}",
        )
    if request.background:
        raise fail(
            "background",
            "true is not supported: the answer comes in the request's "
            "own HTTP response. Fix: leave background out (stream: true for long answers)",
        )
    if request.include:
        raise fail(
            "include",
            f"{', '.join(request.include)} cannot be added: the upstreams "
            "speak chat completions, which return none of it. Fix: leave include out",
        )
    if request.truncation == "auto":
        raise fail(
            "truncation",
            "auto is not supported: the gateway drops no input items (a "
            "prompt too long falls back to a model with a larger context window, else "
            "400). Fix: leave truncation out, or shorten the input",
        )
    summary = request.reasoning and (
        request.reasoning.summary or request.reasoning.generate_summary
    )
    if summary and summary != "auto":
        raise fail(
            "reasoning.summary",
            f"{summary!r} cannot be produced: chat-completions "
            "upstreams return no reasoning summaries. Fix: leave it out, or send 'auto'",
        )
    extra = request.model_extra or {}
    for name, why in REFUSED.items():
        if extra.get(name) is not None:
            raise fail(name, why)


def _tool(index: int, tool: dict[str, Any]) -> ToolSpec:
    where = f"tools.{index}"
    kind = tool.get("type")
    if kind != "function":
        raise fail(
            f"{where}.type",
            f"{kind!r} is a tool hosted by OpenAI, not offered here: "
            "only function tools are. Fix: define it as a function tool that your "
            "code runs",
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}.name", "a function tool needs a name")
    parameters = tool.get("parameters") or {"type": "object", "properties": {}}
    strict = tool.get("strict")
    for field, value in (("parameters", parameters), ("description", tool.get("description"))):
        problem = json_value_problem(value, where=f"{where}.{field}")
        if problem is not None:
            raise WireError(problem)
    if not isinstance(parameters, dict) or not (strict is None or isinstance(strict, bool)):
        raise fail(where, "parameters must be a JSON Schema object and strict a boolean")
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
            raise fail("tool_choice", f"{choice!r} is not one of auto, none, required")
        return choice
    kind = choice.get("type")
    if kind == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools" and isinstance(choice.get("tools"), list):
        tools = []
        for tool in choice["tools"]:
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise fail("tool_choice.tools", "only function tools may be allowed here")
            tools.append({"type": "function", "function": {"name": tool.get("name")}})
        mode = choice.get("mode", "auto")
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}
    raise fail(
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
        raise fail("text.format", "a json_schema format needs a name and a schema")
    problem = json_value_problem(format.schema_, where="text.format.schema")
    if problem is not None:
        raise WireError(problem)
    schema: dict[str, Any] = {"name": format.name, "schema": format.schema_}
    if format.description is not None:
        schema["description"] = format.description
    if format.strict is not None:
        schema["strict"] = format.strict
    return {"type": "json_schema", "json_schema": schema}
