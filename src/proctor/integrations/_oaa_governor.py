"""``Governor``: an OpenAI Agents SDK agent whose tool calls go through Proctor.

``Governor(store, contract).wrap(agent)`` returns a copy of the agent (and of the agents
it hands off to) whose function tools and MCP tools are stand-ins with the same name and
schema. A call to one goes through an ``AgentSession``: validation, policy, approvals,
credentials and the chained record, then the real tool. One SDK run is one Proctor run,
ended when the agent gives its final output.

A call the contract makes wait for a person becomes the SDK's own human-in-the-loop
interruption (``needs_approval``): the stand-in passes the call to Proctor when the SDK
asks whether it needs approval, so a call Proctor lets through has run by then and one
it holds is an interruption. ``Governor.approve`` records the person's decision in
Proctor and approves the interruption; the resumed SDK run then runs the call.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, TypeVar

from agents import Agent, FunctionTool, Handoff, RunContextWrapper, RunState, ToolApprovalItem
from agents.tool_context import ToolContext

from proctor.contracts import Contract
from proctor.errors import RunStateError, UsageError
from proctor.gateway import Gateway
from proctor.integrations._agent_model import add_usage
from proctor.integrations._imported import imported_tool
from proctor.integrations._oaa_hooks import GoverningHooks, mcp_governed_agent
from proctor.integrations._oaa_model import GatewayModel
from proctor.integrations._oaa_tools import Held, StandIn
from proctor.integrations._session import AgentSession, CallOutcome
from proctor.runtime import RunResult, Workflow, decide_approval
from proctor.store import EvidenceKeys, Store, Usage
from proctor.tools import Registry

T = TypeVar("T")


class Governor:
    """Governs OpenAI Agents SDK agents under one contract (see the module's docstring).

    ``started_by`` is who the runs act for (an approver must be someone else); ``agent``
    names the outside agent in the record (default: the wrapped agent's name). With a
    ``gateway``, the agents' model calls go through it (``GatewayModel``; the agent's model
    name, when it is a route of the gateway, picks the route). One SDK run at a time:
    concurrent runs each need their own ``Governor`` and wrapped copy.
    """

    def __init__(
        self,
        store: Store,
        contract: Contract,
        *,
        started_by: str | None = None,
        agent: str | None = None,
        tenant: str = "default",
        keys: EvidenceKeys | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.contract = contract
        self.started_by = started_by
        self.agent = agent
        self.tenant = tenant
        self.keys = keys
        self.registry = Registry()
        self.session: AgentSession | None = None
        """The current SDK run's session (``None`` between runs)."""
        self._tools: dict[str, StandIn] = {}
        self._wrapped: dict[int, Agent[Any]] = {}
        self._instructions = ""
        self._lock = asyncio.Lock()
        self._context: ToolContext[Any] | None = None
        self._settled: dict[str, CallOutcome] = {}
        self._held: dict[str, Held] = {}
        self._waiting: str | None = None  # the SDK call id Proctor's run waits on
        self._last_run: str | None = None
        self._spent = Usage()  # the gateway model's tokens since the run's last turn

    @property
    def run_id(self) -> str | None:
        """The Proctor run of the current SDK run, or of the last one."""
        return self._last_run if self.session is None else self.session.run_id

    def wrap(self, agent: Agent[T]) -> Agent[T]:
        """A copy of ``agent`` (and of the agents it hands off to) whose tools Proctor
        governs; ``UsageError`` for a tool it cannot govern (hosted tools run elsewhere)."""
        known = self._wrapped.get(id(agent))
        if known is not None:
            return known
        if not isinstance(agent, Agent):
            raise UsageError(f"Governor.wrap takes an agents.Agent, not {type(agent).__name__}")
        self.agent = self.agent or agent.name
        if not self._instructions and isinstance(agent.instructions, str):
            self._instructions = agent.instructions
        copy = mcp_governed_agent(agent, self) if agent.mcp_servers else agent.clone()
        copy.tools = [self.govern(tool) for tool in agent.tools]
        copy.hooks = GoverningHooks(self, agent.hooks)
        if self.gateway is not None:
            model, routes = agent.model, self.gateway.routes
            route = model if isinstance(model, str) and model in routes else None
            copy.model = GatewayModel(
                self.gateway,
                route,
                store=self.store,
                caller=f"agent:{agent.name}",
                on_usage=self._spend,
            )
        self._wrapped[id(agent)] = copy
        copy.handoffs = [self._handoff(target) for target in agent.handoffs]
        return copy

    def govern(self, tool: object) -> FunctionTool:
        """The stand-in for one tool (function tools, and MCP tools as the SDK lists them)."""
        if not isinstance(tool, FunctionTool):
            raise UsageError(
                f"{type(tool).__name__} {getattr(tool, 'name', '')!r} runs outside this "
                "process, so Proctor cannot govern its calls. Fix: remove it, or call the "
                "service from a function tool"
            )
        governed = self._tools.get(tool.name)
        if governed is None:
            governed = self._tools[tool.name] = StandIn(self, tool)
            self.registry.register(
                imported_tool(
                    self.contract,
                    governed.name,
                    tool.params_json_schema,
                    governed,
                    description=tool.description,
                    timeout_s=tool.timeout_seconds or 300.0,
                )
            )
        else:  # an MCP tool listed again (a new object each turn): the latest one runs
            governed.original = tool
        return governed.function_tool()

    def workflow(self) -> Workflow:
        """The Proctor workflow the runs follow: the contract, and the governed tools as
        Proctor tools. ``proctor.evals`` replays captured runs with it."""
        return Workflow(
            name=self.contract.workflow,
            registry=self.registry,
            contract=self.contract,
            instructions=self._instructions or "An OpenAI Agents SDK agent.",
            default_model=f"agent:{self.agent or 'openai-agents'}",
        )

    def approval_id(self, item: ToolApprovalItem) -> str | None:
        """The Proctor approval an SDK interruption stands for (``None``: Proctor holds
        nothing of its own for it; it waits behind another call, or is the agent's own)."""
        held = self._held.get(item.call_id or "")
        return None if held is None else held.approval_id

    async def approve(
        self, state: RunState[Any], item: ToolApprovalItem, *, by: str, reason: str = ""
    ) -> None:
        """Record ``by``'s approval in Proctor and approve the interruption in ``state``;
        run the state again to continue. ``by`` may not be who the run acts for."""
        approval_id = self.approval_id(item)
        if approval_id is not None:
            await decide_approval(
                self.store, approval_id, approved=True, by=by, reason=reason, keys=self.keys
            )
        state.approve(item)

    async def reject(
        self, state: RunState[Any], item: ToolApprovalItem, *, by: str, reason: str
    ) -> None:
        """Record ``by``'s refusal in Proctor (the run records the denied call at once) and
        reject the interruption in ``state``: the model is told why."""
        held = self._held.pop(item.call_id or "", None)
        message = f"Proctor denied this call: {by} refused it: {reason}"
        if held is not None and held.approval_id is not None:
            await decide_approval(
                self.store, held.approval_id, approved=False, by=by, reason=reason, keys=self.keys
            )
            outcome = await self._call(held.tool, held.arguments, held.context, item.call_id or "")
            message = f"Proctor denied this call: {outcome.message}"
        state.reject(item, rejection_message=message)

    async def begin(self, input: dict[str, Any] | None = None, *, fresh: bool = True) -> None:
        """Start the SDK run's Proctor run (done for you when the agent starts). ``fresh``:
        a new SDK run, so a Proctor run still open (its SDK run failed) ends first."""
        async with self._lock:
            if fresh and self.session is not None:
                await self._end("The SDK run ended without a final output.")
            await self._open(input)

    async def close(self, text: str = "The agent finished.") -> RunResult | None:
        """End the current SDK run's Proctor run with ``text`` as its final answer (done
        for you when the agent gives its final output). A run waiting for approval stays
        waiting; the next SDK run starts a new one."""
        async with self._lock:
            return await self._end(text)

    # --- inside ----------------------------------------------------------------------

    async def _take(
        self, tool: StandIn, arguments: dict[str, Any], context: ToolContext[Any], call_id: str
    ) -> bool:
        """Pass a call to Proctor before the SDK runs it: whether it must wait for a person."""
        outcome = await self._call(tool, arguments, context, call_id)
        if outcome.status == "pending":
            own = self._waiting == call_id
            self._held[call_id] = Held(
                tool, arguments, context, outcome.approval_id if own else None
            )
            return True
        self._settled[call_id] = outcome
        return False

    async def _call(
        self, tool: StandIn, arguments: dict[str, Any], context: ToolContext[Any], call_id: str
    ) -> CallOutcome:
        """One call through the session, one at a time (the handler needs its context)."""
        async with self._lock:
            session = await self._open()
            await self._catch_up(session)
            settled = self._settled.pop(call_id, None)
            if settled is not None:
                return settled
            free = session.waiting_for is None
            outcome = await self._through(session, tool.name, arguments, context)
            if outcome.status == "pending" and free:
                self._waiting = call_id
            elif outcome.status != "pending" and self._waiting == call_id:
                self._waiting = None  # decided (a refusal settled by ``reject``)
            if outcome.status == "ended":
                raise RunStateError(
                    f"{outcome.message}. The SDK run stops here; a new SDK run starts a new "
                    "Proctor run"
                )
            return outcome

    async def _catch_up(self, session: AgentSession) -> None:
        """Once the call Proctor waits on is decided, let it go first (its repeat)."""
        held = None if self._waiting is None else self._held.get(self._waiting)
        if held is None or held.approval_id is None or session.waiting_for is None:
            return
        approval = await self.store.get_approval(held.approval_id)
        if approval is None or approval.status == "pending":
            return
        call_id, self._waiting = self._waiting or "", None
        self._settled[call_id] = await self._through(
            session, held.tool.name, held.arguments, held.context
        )

    async def _end(self, text: str) -> RunResult | None:
        session, self.session = self.session, None
        self._waiting = None
        self._last_run = None if session is None else session.run_id
        self._settled.clear()
        self._held.clear()
        return None if session is None else await session.close(text, usage=self._take_usage())

    async def _through(
        self, session: AgentSession, tool: str, arguments: dict[str, Any], context: ToolContext[Any]
    ) -> CallOutcome:
        self._context = context
        try:
            return await session.call(tool, arguments, usage=self._take_usage())
        finally:
            self._context = None

    def _spend(self, usage: Usage) -> None:
        self._spent = add_usage(self._spent, usage)

    def _take_usage(self) -> Usage:
        spent, self._spent = self._spent, Usage()
        return spent

    async def _open(self, input: dict[str, Any] | None = None) -> AgentSession:
        if self.session is None:
            agent = self.agent or "openai-agents"
            gateway = self.gateway
            chain = [] if gateway is None else gateway.chain(gateway.default_route)
            self.session = await AgentSession.start(
                self.store,
                self.workflow(),
                agent=agent,
                input=input,
                started_by=self.started_by or f"openai-agents:{agent}",
                tenant=self.tenant,
                keys=self.keys,
                # The agent's turns cost what its gateway model's tokens cost there.
                priced_as=chain[0].model if chain else None,
                prices=None if gateway is None else gateway.prices,
            )
        return self.session

    def _handoff(self, target: Agent[Any] | Handoff[Any, Any]) -> Agent[Any] | Handoff[Any, Any]:
        if isinstance(target, Agent):
            return self.wrap(target)
        invoke = target.on_invoke_handoff

        async def governed(context: RunContextWrapper[Any], arguments: str) -> Agent[Any]:
            return self.wrap(await invoke(context, arguments))

        return dataclasses.replace(target, on_invoke_handoff=governed)
