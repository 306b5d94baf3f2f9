"""What ties a governed OpenAI Agents SDK agent's runs to Proctor runs: its hooks (an SDK
run starts and ends a Proctor run) and, for agents with MCP servers, the tools it lists."""

from __future__ import annotations

from typing import Any, Protocol

from agents import Agent, AgentHooks, FunctionTool, RunContextWrapper
from agents.run_context import AgentHookContext
from pydantic_core import to_json


class _Governs(Protocol):
    """What the hooks and the agent need of the ``Governor``."""

    async def begin(self, input: dict[str, Any], *, fresh: bool) -> None: ...

    async def close(self, text: str = ...) -> Any: ...

    def govern(self, tool: object) -> FunctionTool: ...


class GoverningHooks(AgentHooks[Any]):
    """The agent's hooks, plus: its start opens the SDK run's Proctor run (a new one for
    a new SDK run) and its final output ends it. The agent's own hooks still run."""

    def __init__(self, governor: _Governs, inner: AgentHooks[Any] | None) -> None:
        self.governor = governor
        self.inner = inner

    async def on_start(self, context: AgentHookContext[Any], agent: Agent[Any]) -> None:
        # A run's first turn has made no model request yet; a resumed or handed-off one has.
        await self.governor.begin(_input(context), fresh=context.usage.requests == 0)
        if self.inner is not None:
            await self.inner.on_start(context, agent)

    async def on_end(self, context: AgentHookContext[Any], agent: Agent[Any], output: Any) -> None:
        text = output if isinstance(output, str) else to_json(output, fallback=str).decode()
        await self.governor.close(text)
        if self.inner is not None:
            await self.inner.on_end(context, agent, output)

    async def on_handoff(self, *args: Any, **kwargs: Any) -> None:
        if self.inner is not None:
            await self.inner.on_handoff(*args, **kwargs)

    async def on_tool_start(self, *args: Any, **kwargs: Any) -> None:
        if self.inner is not None:
            await self.inner.on_tool_start(*args, **kwargs)

    async def on_tool_end(self, *args: Any, **kwargs: Any) -> None:
        if self.inner is not None:
            await self.inner.on_tool_end(*args, **kwargs)

    async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        if self.inner is not None:
            await self.inner.on_llm_start(*args, **kwargs)

    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        if self.inner is not None:
            await self.inner.on_llm_end(*args, **kwargs)


def mcp_governed_agent(agent: Agent[Any], governor: _Governs) -> Agent[Any]:
    """A copy of ``agent`` whose MCP servers' tools, listed each turn, are governed too."""

    class GovernedAgent(type(agent)):  # type: ignore[misc]
        async def get_mcp_tools(self, run_context: RunContextWrapper[Any]) -> list[Any]:
            listed = await super().get_mcp_tools(run_context)
            return [governor.govern(tool) for tool in listed]

    GovernedAgent.__name__ = GovernedAgent.__qualname__ = type(agent).__name__
    fields = agent.__dataclass_fields__.values()
    copy: Agent[Any] = GovernedAgent(**{f.name: getattr(agent, f.name) for f in fields if f.init})
    return copy


def _input(context: RunContextWrapper[Any]) -> dict[str, Any]:
    """The run's input for its record: the last user message, when it is text."""
    for item in reversed(getattr(context, "turn_input", None) or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            return {"input": content} if isinstance(content, str) else {}
    return {}
