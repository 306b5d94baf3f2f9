"""Stand-ins for an OpenAI Agents SDK agent's tools: same name and schema for the model,
each call passed to Proctor; and the handler Proctor runs the original tool through."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from agents import FunctionTool, RunContextWrapper, default_tool_error_function
from agents.tool_context import ToolContext
from pydantic_core import to_jsonable_python

from proctor.errors import ToolExecutionError, UsageError
from proctor.integrations._session import CallOutcome

# Older SDKs have no human-in-the-loop: a held call then answers the model with its
# approval id, and the model repeats the call once a person decided it.
INTERRUPTS = "needs_approval" in {f.name for f in dataclasses.fields(FunctionTool)}

_VALID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$")


@dataclass(slots=True)
class Held:
    """An SDK call Proctor holds: for its own approval, or behind another's (``None``)."""

    tool: StandIn
    arguments: dict[str, Any]
    context: ToolContext[Any]
    approval_id: str | None


class _Governor(Protocol):
    """What a stand-in needs of the ``Governor``."""

    _context: ToolContext[Any] | None
    _settled: dict[str, CallOutcome]
    _held: dict[str, Held]

    async def _take(
        self, tool: StandIn, arguments: dict[str, Any], context: ToolContext[Any], call_id: str
    ) -> bool: ...

    async def _call(
        self, tool: StandIn, arguments: dict[str, Any], context: ToolContext[Any], call_id: str
    ) -> CallOutcome: ...


class StandIn:
    """One tool under Proctor: the SDK's stand-in (``function_tool``) and, called with a
    Proctor ``ToolContext`` and the arguments, the handler that runs the original."""

    def __init__(self, governor: _Governor, original: FunctionTool) -> None:
        if original.tool_input_guardrails:
            raise UsageError(
                f"tool {original.name!r} has input guardrails, which the SDK runs after "
                "Proctor has already decided and run the call. Fix: say it in the contract "
                "(a rule on the tool's arguments), or guard the agent's input instead"
            )
        self.governor = governor
        self.original = original
        self.name = proctor_name(original.name)

    def function_tool(self) -> FunctionTool:
        """The FunctionTool the governed agent holds instead of the original."""
        extra: dict[str, Any] = {"needs_approval": self.needs_approval} if INTERRUPTS else {}
        return FunctionTool(
            name=self.original.name,
            description=self.original.description,
            params_json_schema=self.original.params_json_schema,
            on_invoke_tool=self.invoke,
            strict_json_schema=self.original.strict_json_schema,
            is_enabled=self.original.is_enabled,
            tool_output_guardrails=self.original.tool_output_guardrails,
            **extra,
        )

    async def needs_approval(
        self, context: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str
    ) -> bool:
        """The SDK's question before a call: Proctor takes the call now and answers."""
        own: Any = self.original.needs_approval
        if callable(own):
            own = own(context, arguments, call_id)
            own = await own if inspect.isawaitable(own) else own
        if own:
            return True  # the agent's own approval first; Proctor's policy at the call
        tool_context = ToolContext.from_agent_context(
            context, call_id, tool_name=self.original.name, tool_arguments=json.dumps(arguments)
        )
        return await self.governor._take(self, arguments, tool_context, call_id)

    async def invoke(self, context: ToolContext[Any], arguments_json: str) -> Any:
        """The SDK's call: what Proctor made of it (taken already, or taken now)."""
        governor, call_id = self.governor, context.tool_call_id
        outcome = governor._settled.pop(call_id, None)
        if outcome is None:
            try:
                arguments = json.loads(arguments_json or "{}")
            except json.JSONDecodeError as exc:
                return f"Proctor denied this call: its arguments are not JSON ({exc})"
            if not isinstance(arguments, dict):
                return "Proctor denied this call: its arguments are not a JSON object"
            outcome = await governor._call(self, arguments, context, call_id)
        governor._held.pop(call_id, None)
        return await self.answer(outcome, context)

    async def answer(self, outcome: CallOutcome, context: ToolContext[Any]) -> Any:
        """What the model sees of a call, in the SDK's conventions: a failure as the
        tool's ``failure_error_function`` words it (or raised, if it has none)."""
        if outcome.status == "ok":
            return outcome.result
        if outcome.status == "error":
            error = ToolExecutionError(outcome.message)
            text = await _failure_text(self.original, context, error)
            if text is None:
                raise error
            return text
        if outcome.status == "pending":
            return outcome.message  # names the approval: the model repeats the call later
        return f"Proctor denied this call: {outcome.message}"

    async def __call__(self, _context: object, arguments: dict[str, Any]) -> Any:
        """The Proctor tool's handler: the original tool, with the SDK call's context."""
        context = self.governor._context
        if context is None:
            raise ToolExecutionError(f"{self.name} ran outside an SDK call; nothing to run")
        invoker = self.original.on_invoke_tool
        # The SDK's wrapper turns a failure into text for the model; the function it wraps
        # raises, so Proctor records the failure as the tool's error.
        run = getattr(invoker, "_invoke_tool_impl", None) or invoker
        result = await run(context, json.dumps(arguments))
        return to_jsonable_python(result, fallback=str)


async def _failure_text(
    tool: FunctionTool, context: ToolContext[Any], error: Exception
) -> str | None:
    try:
        from agents.tool import maybe_invoke_function_tool_failure_error_function
    except ImportError:  # an older SDK: its default wording
        return default_tool_error_function(context, error)
    return await maybe_invoke_function_tool_failure_error_function(
        function_tool=tool, context=context, error=error
    )


def proctor_name(name: str) -> str:
    """The tool's name in the contract and the record: the model's name for it, with
    characters a Proctor tool name cannot hold (an MCP tool's ``admin/reset``) as ``_``."""
    if _VALID.match(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "tool"
    return cleaned if cleaned[0].isalpha() else f"tool_{cleaned}"
