"""OpenAI Agents SDK models that call through Proctor's gateway.

``GatewayModel`` is an SDK ``Model`` whose calls go through a Proctor ``Gateway``:
routing and fallback, retries, the circuit breaker, the response cache, rate limits and
prices. Each call is recorded in the store's gateway call ledger (as the
OpenAI-compatible endpoint records its calls), under the caller name given.
``GatewayModelProvider`` gives one per model name (a gateway route), for ``RunConfig``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from agents import (
    AgentOutputSchemaBase,
    FunctionTool,
    Handoff,
    Model,
    ModelProvider,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    TResponseInputItem,
    Usage,
)
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from proctor.errors import ModelError, UsageError
from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Gateway,
    GatewayResult,
    Message,
    ModelRequest,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.store import GatewayCallRecord, RecordedToolCall, Store
from proctor.store import Usage as ProctorUsage

_SKIPPED = {"reasoning"}  # the model's own notes: nothing another provider can read


class GatewayModel(Model):
    """An SDK model answering through ``gateway`` on ``route`` (``None``: its default)."""

    def __init__(
        self,
        gateway: Gateway,
        route: str | None = None,
        *,
        store: Store | None = None,
        caller: str = "openai-agents",
        on_usage: Callable[[ProctorUsage], None] | None = None,
    ) -> None:
        """``on_usage`` is told each answer's tokens (a governor records them on its run)."""
        self.gateway = gateway
        self.route = route
        self.store = store
        self.caller = caller
        self.on_usage = on_usage

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        if output_schema is not None and not output_schema.is_plain_text():
            raise UsageError(
                "Proctor's gateway answers in text and tool calls, not a structured output "
                "type. Fix: leave the agent's output_type unset, or parse its text answer"
            )
        request = ModelRequest(
            messages=messages(system_instructions, input),
            tools=specs(tools, handoffs),
            route=self.route,
            settings=CallSettings(
                max_tokens=model_settings.max_tokens, temperature=model_settings.temperature
            ),
        )
        started = time.perf_counter()
        try:
            result = await self.gateway.complete(request)
        except ModelError as exc:  # every deployment failed, or the call was refused
            await self._record(started, None, error=type(exc).__name__)
            raise
        await self._record(started, result)
        if self.on_usage is not None:
            self.on_usage(result.response.usage)
        return response(result)

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise UsageError(
            "GatewayModel does not stream. Fix: run the agent with Runner.run, not "
            "Runner.run_streamed"
        )
        yield  # pragma: no cover - makes this an async generator

    async def _record(
        self, started: float, result: GatewayResult | None, *, error: str | None = None
    ) -> None:
        if self.store is None:
            return
        answer = None if result is None else result.response
        await self.store.record_gateway_calls(
            [
                GatewayCallRecord(
                    ts=time.time(),
                    key_name=self.caller,
                    route=self.route or self.gateway.default_route,
                    deployment=None if result is None else result.deployment,
                    model=None if answer is None else answer.model,
                    input_tokens=0 if answer is None else answer.usage.input_tokens,
                    output_tokens=0 if answer is None else answer.usage.output_tokens,
                    cost_usd=None if result is None else result.cost_usd,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    cache_hit=False if result is None else result.cache_hit,
                    status=200 if error is None else 502,
                    error=error,
                )
            ]
        )


class GatewayModelProvider(ModelProvider):
    """SDK models by name, each a route of ``gateway``: ``RunConfig(model_provider=...)``."""

    def __init__(
        self, gateway: Gateway, *, store: Store | None = None, caller: str = "openai-agents"
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.caller = caller

    def get_model(self, model_name: str | None) -> Model:
        """The model on route ``model_name``; a name the gateway has no route for (the
        SDK's default model name) gets its default route."""
        route = model_name if model_name in self.gateway.routes else None
        return GatewayModel(self.gateway, route, store=self.store, caller=self.caller)


def messages(system: str | None, items: str | list[TResponseInputItem]) -> list[Message]:
    """The SDK's input (Responses API items) as a gateway conversation."""
    found: list[Message] = [SystemMessage(content=system)] if system else []
    if isinstance(items, str):
        return [*found, UserMessage(content=items)]
    names: dict[str, str] = {}
    for raw in items:
        item: dict[str, Any] = dict(raw) if isinstance(raw, dict) else _dump(raw)
        kind, role = item.get("type", "message"), item.get("role")
        if kind == "message" and role in ("system", "developer"):
            found.append(SystemMessage(content=_text(item.get("content"))))
        elif kind == "message" and role == "user":
            found.append(UserMessage(content=_text(item.get("content"))))
        elif kind == "message" and role == "assistant":
            found.append(AssistantMessage(text=_text(item.get("content"))))
        elif kind == "function_call":
            call = _call(item)
            names[call.id] = call.name
            last = found[-1] if found else None
            if isinstance(last, AssistantMessage):  # one turn: its text and its calls
                found[-1] = AssistantMessage(text=last.text, tool_calls=(*last.tool_calls, call))
            else:
                found.append(AssistantMessage(tool_calls=(call,)))
        elif kind == "function_call_output":
            call_id = str(item.get("call_id", ""))
            output = item.get("output")
            content = output if isinstance(output, str) else _text(output)
            found.append(ToolMessage(call_id=call_id, name=names.get(call_id, ""), content=content))
        elif kind not in _SKIPPED:
            raise UsageError(
                f"an input item of type {kind!r} cannot go through Proctor's gateway (it "
                "carries text, function calls and their outputs). Fix: use function tools"
            )
    return found


def specs(tools: list[Any], handoffs: list[Handoff[Any, Any]]) -> list[ToolSpec]:
    """The tools (and handoffs, which the model calls as tools) as the model sees them."""
    found: list[ToolSpec] = []
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            raise UsageError(
                f"{type(tool).__name__} is a hosted tool; Proctor's gateway offers the model "
                "function tools only. Fix: remove it, or call the service from a function tool"
            )
        found.append(
            ToolSpec(
                name=tool.name, description=tool.description, parameters=tool.params_json_schema
            )
        )
    for handoff in handoffs:
        found.append(
            ToolSpec(
                name=handoff.tool_name,
                description=handoff.tool_description,
                parameters=handoff.input_json_schema,
            )
        )
    return found


def response(result: GatewayResult) -> ModelResponse:
    """The gateway's answer as the SDK's: a message and function calls, with usage."""
    answer = result.response
    output: list[Any] = []
    if answer.text:
        text = ResponseOutputText(type="output_text", text=answer.text, annotations=[])
        output.append(
            ResponseOutputMessage(
                id="msg_proctor",
                type="message",
                role="assistant",
                status="completed",
                content=[text],
            )
        )
    for call in answer.tool_calls:
        arguments = call.raw_arguments or json.dumps(call.arguments, ensure_ascii=False)
        output.append(
            ResponseFunctionToolCall(
                id=call.id,
                call_id=call.id,
                type="function_call",
                name=call.name,
                arguments=arguments,
            )
        )
    usage = Usage(
        requests=1,
        input_tokens=answer.usage.input_tokens,
        output_tokens=answer.usage.output_tokens,
        total_tokens=answer.usage.total,
    )
    return ModelResponse(output=output, usage=usage, response_id=None)


def _call(item: dict[str, Any]) -> RecordedToolCall:
    raw = str(item.get("arguments") or "{}")
    call_id, name = str(item.get("call_id", "")), str(item.get("name", ""))
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError:
        arguments = None
    if isinstance(arguments, dict):
        return RecordedToolCall(id=call_id, name=name, arguments=arguments)
    return RecordedToolCall(id=call_id, name=name, raw_arguments=raw)


def _dump(item: object) -> dict[str, Any]:
    """An input item given as a model object (the SDK's output items), as a mapping."""
    dump = getattr(item, "model_dump", None)
    found = dump(mode="json", exclude_none=True) if callable(dump) else vars(item)
    return dict(found)


def _text(content: Any) -> str:
    """Text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
