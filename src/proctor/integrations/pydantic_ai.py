"""pydantic-ai agents under Proctor: ``Governor``, a capability that governs every tool call.

Give it to an existing agent, ``Agent(..., capabilities=[Governor(store, contract)])`` (or
to one run: ``agent.run(..., capabilities=[governor])``), and each call of its tools (its
function tools and any toolset's) goes through an ``AgentSession``: the tool's schema
checks the arguments, policy decides, a call needing approval waits for a person, and the
chained record keeps it all. The tools themselves are unchanged; what a tool does (its
effect) comes from the contract's ``tools:`` section or ``effects=``, else it counts as a
write.

One agent run is one Proctor run. A call that needs approval becomes pydantic-ai's
deferred approval (``ApprovalRequired``; the run's output is ``DeferredToolRequests``),
and the run given their ``DeferredToolResults`` continues the same Proctor run: a decision
Proctor has not recorded is recorded as ``answered_by``'s. With ``approval_wait_s`` the
run waits instead for a person to decide in Proctor (``proctor approve``, the web UI).
The agent's model usage is recorded on the run's turns. Needs ``pip install
'proctor-runtime[pydantic-ai]'``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from proctor.contracts import Contract
from proctor.errors import UsageError, needs_extra
from proctor.integrations._agent_model import add_usage
from proctor.integrations._imported import imported_tool
from proctor.integrations._session import AgentSession
from proctor.runtime import Workflow
from proctor.store import EvidenceKeys, Store, Usage
from proctor.tools import Effect, Tool

with needs_extra("proctor.integrations.pydantic_ai"):
    from pydantic_ai import DeferredToolRequests, DeferredToolResults, RunContext, UserPromptNode
    from pydantic_ai.capabilities import AbstractCapability, AgentNode, WrapRunHandler
    from pydantic_ai.messages import ModelResponse
    from pydantic_ai.models import ModelRequestContext
    from pydantic_ai.run import AgentRunResult
    from pydantic_ai.tools import ToolDefinition
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool, WrapperToolset

    from proctor.integrations._pydantic_ai_calls import (
        ApprovalMismatch,
        Governed,
        Handler,
        Invocation,
        RunEnded,
        jsonable,
    )

__all__ = ["ApprovalMismatch", "GovernedToolset", "Governor", "RunEnded"]

_INSTRUCTIONS = (
    "A pydantic-ai agent's run through proctor.integrations.pydantic_ai: each model turn "
    "is the agent's next tool call."
)


@dataclass(init=False)
class Governor(AbstractCapability[Any]):
    """The capability that puts an agent's tool calls under ``contract`` (module docstring).

    ``effects`` names what tools do where the contract's ``tools:`` does not (default:
    ``write``). ``started_by`` is who runs act for (a string, or a function of the run's
    context); separation of duties keeps them from approving. ``agent`` names the agent
    in the record (default: the agent's name). ``approval_wait_s``: how long a run waits
    for a person to decide a pending approval in Proctor before it ends with
    ``DeferredToolRequests`` (0: it ends at once).
    """

    store: Store
    contract: Contract

    def __init__(
        self,
        store: Store,
        contract: Contract,
        *,
        effects: Mapping[str, Effect] | None = None,
        started_by: str | Callable[[RunContext[Any]], str] | None = None,
        agent: str | None = None,
        approval_wait_s: float = 0.0,
        tool_timeout_s: float = 300.0,
        tenant: str = "default",
        keys: EvidenceKeys | None = None,
    ) -> None:
        self.store = store
        self.contract = contract
        self.effects = dict(effects or {})
        self.started_by = started_by
        self.agent = agent
        self.approval_wait_s = approval_wait_s
        self.tool_timeout_s = tool_timeout_s
        self.tenant = tenant
        self.keys = keys
        self.runs: dict[str, str] = {}
        """Proctor's run id by pydantic-ai's run id (the last 1000 runs)."""
        self._runs: dict[str, Governed] = {}
        self._parked: dict[str, Governed] = {}
        """Sessions whose run ended with deferred calls, by pydantic-ai conversation id."""

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None  # built in code (a store, a contract), not from an agent spec

    def get_wrapper_toolset(self, toolset: AbstractToolset[Any]) -> AbstractToolset[Any]:
        return GovernedToolset(toolset, governor=self)

    async def before_node_run(
        self, ctx: RunContext[Any], *, node: AgentNode[Any]
    ) -> AgentNode[Any]:
        if isinstance(node, UserPromptNode) and ctx.run_id is not None:
            await self._begin(ctx, node.deferred_tool_results)
        return node

    async def after_model_request(
        self,
        ctx: RunContext[Any],
        *,
        request_context: ModelRequestContext,
        response: ModelResponse,
    ) -> ModelResponse:
        usage, governed = response.usage, self._governed(ctx)
        spent = Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cache_read_tokens,
        )
        governed.usage = add_usage(governed.usage, spent)
        return response

    async def wrap_run(
        self, ctx: RunContext[Any], *, handler: WrapRunHandler
    ) -> AgentRunResult[Any]:
        try:
            result = await handler()
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the run's own error is the one to see
                await self._finish(ctx, None, exc)
            raise
        await self._finish(ctx, result, None)
        return result

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[Any], *, requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        """With ``approval_wait_s``, wait for a person to decide the calls Proctor holds."""
        governed = self._runs.get(ctx.run_id or "")
        if self.approval_wait_s <= 0 or governed is None:
            return None
        call_ids = [call.tool_call_id for call in requests.approvals]
        return await governed.wait(call_ids, self.approval_wait_s, keys=self.keys)

    async def close(self) -> None:
        """End the runs of sessions whose deferred calls were never continued (those
        waiting for approval stay waiting), and forget them."""
        parked, self._parked = list(self._parked.values()), {}
        for governed in parked:
            if governed.session is not None:
                await governed.session.close("The agent's deferred calls were not continued.")

    # --- inside ---------------------------------------------------------------------------

    def _governed(self, ctx: RunContext[Any]) -> Governed:
        return self._runs.setdefault(ctx.run_id or "", Governed())

    async def _begin(self, ctx: RunContext[Any], results: DeferredToolResults | None) -> None:
        key = ctx.conversation_id or ""
        parked = self._parked.pop(key, None)
        if parked is not None and results is None:  # the conversation went on without them
            await self._end(parked, "The agent's deferred calls were not continued.", None)
            parked = None
        if parked is None or results is None:
            self._governed(ctx)
            return
        try:
            await parked.apply(results, keys=self.keys)
        except BaseException:
            self._parked[key] = parked  # results fixed as the error says still continue it
            raise
        self._runs[ctx.run_id or ""] = parked
        if parked.session is not None:
            self._note(ctx, parked.session.run_id)

    def _listed(self, ctx: RunContext[Any], tools: Mapping[str, ToolsetTool[Any]]) -> None:
        governed = self._governed(ctx)
        if governed.session is not None:
            return  # a run's tools are those it started with
        for name, tool in tools.items():
            if name not in governed.registry and tool.tool_def.kind not in ("output", "external"):
                governed.registry.register(self._tool(governed, name, tool.tool_def))

    def _tool(self, governed: Governed, name: str, definition: ToolDefinition) -> Tool:
        try:
            return imported_tool(
                self.contract,
                name,
                definition.parameters_json_schema,
                Handler(governed, name),
                description=definition.description or "",
                effect=self.effects.get(name),
                timeout_s=definition.timeout or self.tool_timeout_s,
            )
        except UsageError as exc:
            raise UsageError(f"the agent's tool {name!r} cannot be governed: {exc}") from None

    async def _session(self, ctx: RunContext[Any], governed: Governed) -> AgentSession:
        async with governed.starting:  # the run's first calls may come at once
            if governed.session is None:
                governed.session = await self._start(ctx, governed)
            self._note(ctx, governed.session.run_id)
            return governed.session

    async def _start(self, ctx: RunContext[Any], governed: Governed) -> AgentSession:
        label = self.agent or (ctx.agent.name if ctx.agent else None) or "pydantic-ai"
        started_by = self.started_by
        if callable(started_by):
            started_by = started_by(ctx)
        workflow = Workflow(
            name=self.contract.workflow,
            registry=governed.registry,
            contract=self.contract,
            instructions=_INSTRUCTIONS,
            default_model="agent:pydantic-ai",
        )
        model = getattr(ctx.model, "model_id", None) or getattr(ctx.model, "model_name", "")
        return await AgentSession.start(
            self.store,
            workflow,
            agent=label,
            input={"prompt": jsonable(ctx.prompt), "model": str(model)},
            started_by=started_by or f"pydantic-ai:{label}",
            tenant=self.tenant,
            keys=self.keys,
            priced_as=str(getattr(ctx.model, "model_name", "") or "") or None,
        )

    def _note(self, ctx: RunContext[Any], run_id: str) -> None:
        self.runs[ctx.run_id or ""] = run_id
        while len(self.runs) > 1000:
            del self.runs[next(iter(self.runs))]

    async def _call(
        self,
        wrapped: AbstractToolset[Any],
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[Any],
        tool: ToolsetTool[Any],
    ) -> Any:
        governed = self._governed(ctx)
        await self._session(ctx, governed)
        arguments = jsonable(tool_args)
        invocation = Invocation(
            name, lambda: wrapped.call_tool(name, tool_args, ctx, tool), contextvars.copy_context()
        )
        return await governed.call(name, arguments, ctx.tool_call_id or "", invocation)

    async def _finish(
        self, ctx: RunContext[Any], result: AgentRunResult[Any] | None, exc: BaseException | None
    ) -> None:
        governed = self._runs.pop(ctx.run_id or "", None)
        if governed is None:
            return
        output = None if result is None else result.output
        if isinstance(output, DeferredToolRequests) and not (
            governed.session and governed.session.ended
        ):
            self._parked[ctx.conversation_id or ""] = governed  # continued with their results
            return
        if governed.session is None and exc is None:
            await self._session(ctx, governed)  # a run without tool calls is recorded too
        text = output if isinstance(output, str) else orjson.dumps(jsonable(output)).decode()
        await self._end(governed, text, exc)

    async def _end(self, governed: Governed, text: str, exc: BaseException | None) -> None:
        session = governed.session
        if session is None:
            return
        if exc is None:
            await session.close(text, usage=governed.take_usage())
        else:
            why = str(exc) or type(exc).__name__
            await session.fail(f"the agent's run failed: {why}")


@dataclass
class GovernedToolset(WrapperToolset[Any]):
    """An agent's assembled toolset, each call through its ``Governor``'s session."""

    governor: Governor = field(kw_only=True)

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        tools = await super().get_tools(ctx)
        self.governor._listed(ctx, tools)
        return tools

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        return await self.governor._call(self.wrapped, name, tool_args, ctx, tool)
