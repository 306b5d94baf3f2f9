"""``GoverningGateway``: an agent that only changes its ``base_url`` gets governed.

The agent runs its own tools and its own loop; it reaches its model through the gateway
endpoint. For a key or route bound to a contract, each conversation becomes a governed
run: the model the run calls is the real upstream (``_Upstream``, asked with the client's
own messages), and the tools are the client's (``_ClientTool``: "running" one hands the
call to the client and waits for its result in the client's next request). So every call
the model proposes goes through the loop: a denied call never reaches the client (the
model is told and asked again, a few times at most), an allowed one is returned to the
client to run, and one that needs approval is answered with a message naming it.

A conversation is named by the ``x-proctor-session`` header, else by its beginning (the
key, the system prompt and the first user message). A run covers one request-answer
exchange of the conversation, from a user message to the model's final answer; the next
user message starts the next run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from proctor.contracts import Contract
from proctor.errors import ModelError, ToolExecutionError, UsageError
from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Gateway,
    GatewayResult,
    Message,
    ModelRequest,
    ModelResponse,
    PriceTable,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.integrations._agent_model import add_usage
from proctor.integrations._imported import imported_tool
from proctor.runtime import Runner, RunResult, Workflow, new_run_id
from proctor.store import EvidenceKeys, RecordedToolCall, Store, Usage, digest
from proctor.tools import Registry, ToolContext

_MISSING = object()
_MAX_TURNS_PER_REQUEST = 4
"""Model turns one request may take before its answer (denied calls are retried)."""
_IDLE_S = 3600.0


@dataclass(slots=True)
class _Handoff:
    """A call the loop allowed: the client runs it and sends its result."""

    call_id: str
    tool: str
    arguments: dict[str, Any]


@dataclass
class _Conversation:
    """One client conversation: its current run, and what the current request carries."""

    key: str
    route: str
    runner: Runner | None = None
    run_id: str = ""
    drive: asyncio.Task[RunResult] | None = None
    approval: str | None = None
    handoffs: asyncio.Queue[_Handoff] = field(default_factory=asyncio.Queue)
    waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = 0.0
    # The current request:
    messages: Sequence[Message] = ()
    tools: Sequence[ToolSpec] = ()
    settings: CallSettings | None = None
    mark: int | None = None
    turns: int = 0
    gone: bool = False
    """The client never sent a call's result: the run asks the model nothing more."""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None


class GoverningGateway:
    """Governs the requests of bound API keys and routes (``ChatGovernor`` of
    ``proctor.endpoint``): see the module's docstring."""

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        bindings: Mapping[str, Contract],
        *,
        keys: EvidenceKeys | None = None,
        client_timeout_s: float = 3600.0,
    ) -> None:
        """``bindings`` maps an API key's name or a route to the contract its
        conversations run under (a key's binding wins). A client that has not sent a
        handed-over call's result after ``client_timeout_s`` is gone: the call is a tool
        error and its run ends without asking the model again."""
        self.store = store
        self.gateway = gateway
        self.bindings = dict(bindings)
        self.keys = keys
        self.client_timeout_s = client_timeout_s
        self._conversations: dict[str, _Conversation] = {}

    def governs(self, key: str, route: str) -> bool:
        return key in self.bindings or route in self.bindings

    async def complete(
        self, request: ModelRequest, *, key: str, session: str | None
    ) -> GatewayResult:
        route = request.route or self.gateway.default_route
        contract = self.bindings.get(key) or self.bindings.get(route)
        if contract is None:
            raise UsageError(f"neither key {key!r} nor route {route!r} is governed here")
        conversation = self._conversation(key, route, request.messages, session)
        async with conversation.lock:
            conversation.last_used = time.monotonic()
            conversation.messages, conversation.tools = request.messages, request.tools
            conversation.settings, conversation.mark, conversation.turns = request.settings, None, 0
            conversation.gone = False
            conversation.usage, conversation.cost_usd = Usage(), None
            await self._advance(conversation, contract, key)
            return await self._answer(conversation)

    # --- conversations ---------------------------------------------------------------

    def _conversation(
        self, key: str, route: str, messages: Sequence[Message], session: str | None
    ) -> _Conversation:
        name = f"{key}\n{session}" if session else _beginning(key, messages)
        now = time.monotonic()
        for stale in [k for k, c in self._conversations.items() if now - c.last_used > _IDLE_S]:
            if not self._conversations[stale].lock.locked():
                del self._conversations[stale]
        conversation = self._conversations.get(name)
        if conversation is None or conversation.route != route:
            conversation = self._conversations[name] = _Conversation(key=key, route=route)
        return conversation

    async def _advance(self, conversation: _Conversation, contract: Contract, key: str) -> None:
        """Hand the request to the run: the client's results to the calls it ran, a
        decided approval to the waiting run, or a new user message to a new run."""
        if conversation.waiting:
            results = {m.call_id: m for m in conversation.messages if isinstance(m, ToolMessage)}
            for call_id, future in conversation.waiting.items():
                reply = results.get(call_id)
                future.set_result(_MISSING if reply is None else reply.content)
            conversation.waiting.clear()
            return
        if conversation.approval is not None and conversation.runner is not None:
            approval = await self.store.get_approval(conversation.approval)
            if approval is None or approval.status == "pending":
                return
            conversation.approval = None
            conversation.drive = asyncio.create_task(
                conversation.runner.resume(conversation.run_id, reason="approval decided")
            )
            return
        if conversation.drive is not None and not conversation.drive.done():
            return
        conversation.runner = self._runner(conversation, contract)
        conversation.run_id = new_run_id()
        conversation.drive = asyncio.create_task(
            conversation.runner.start(
                {"conversation": [_plain(m) for m in conversation.messages]},
                started_by=f"gateway:{key}",
                run_id=conversation.run_id,
            )
        )

    def _runner(self, conversation: _Conversation, contract: Contract) -> Runner:
        tools = []
        for spec in conversation.tools:
            tools.append(
                imported_tool(
                    contract,
                    spec.name,
                    spec.parameters,
                    _ClientTool(conversation, spec.name),
                    description=spec.description or "",
                    timeout_s=self.client_timeout_s,  # the client runs it, then answers
                )
            )
        workflow = Workflow(
            name=contract.workflow,
            registry=Registry(tools),
            contract=contract,
            instructions="A client's conversation through the governing gateway.",
            default_model=conversation.route,
        )
        upstream = _Upstream(self.gateway, conversation)
        prices = _prices(self.gateway, upstream.name, conversation.route)
        return Runner(self.store, workflow, model=upstream, prices=prices, keys=self.keys)

    async def _answer(self, conversation: _Conversation) -> GatewayResult:
        """What the client receives: the call the run hands it, the final answer, or
        that a call waits for approval."""
        assert conversation.drive is not None
        if conversation.approval is not None:
            return self._result(conversation, text=_waiting(conversation.approval))
        handoff = asyncio.ensure_future(conversation.handoffs.get())
        either: list[asyncio.Future[Any]] = [handoff, conversation.drive]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not handoff.done():
                handoff.cancel()
        if handoff.done() and not handoff.cancelled():
            given = handoff.result()
            call = RecordedToolCall(id=given.call_id, name=given.tool, arguments=given.arguments)
            return self._result(conversation, calls=(call,))
        result = conversation.drive.result()  # raises why the run could not go on
        state = result.state
        if state.status == "awaiting_approval" and state.pending_approval is not None:
            conversation.approval = state.pending_approval
            return self._result(conversation, text=_waiting(state.pending_approval))
        if state.outcome == "resolved" and state.final_text is not None:
            return self._result(conversation, text=state.final_text)
        reason = state.finish_reason or "the run ended"
        return self._result(
            conversation, text=f"Proctor ended this run ({state.outcome}): {reason}"
        )

    def _result(
        self,
        conversation: _Conversation,
        *,
        text: str | None = None,
        calls: tuple[RecordedToolCall, ...] = (),
    ) -> GatewayResult:
        response = ModelResponse(
            model=conversation.route,
            text=text,
            tool_calls=calls,
            usage=conversation.usage,
            finish_reason="tool_calls" if calls else "stop",
        )
        return GatewayResult(
            response=response, deployment=conversation.route, cost_usd=conversation.cost_usd
        )


@dataclass(frozen=True, slots=True)
class _ClientTool:
    """A tool the client runs: "running" it hands the call over and awaits the result."""

    conversation: _Conversation
    tool: str

    async def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.conversation.waiting[context.call_id] = future
        await self.conversation.handoffs.put(_Handoff(context.call_id, self.tool, arguments))
        try:
            reply = await future
        except asyncio.CancelledError:  # the tool's timeout: the client went away
            self.conversation.gone = True
            raise
        if reply is _MISSING:
            raise ToolExecutionError("the client sent no result for this call")
        try:
            return orjson.loads(reply)
        except orjson.JSONDecodeError:
            return reply


class _Upstream:
    """The run's model: the real upstream, asked with the client's own messages (plus the
    turns this request added: denied calls and what the model was told of them)."""

    def __init__(self, gateway: Gateway, conversation: _Conversation) -> None:
        self.gateway = gateway
        self.conversation = conversation
        self.name = conversation.route

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        conversation = self.conversation
        if conversation.gone:  # asking the upstream now would spend for nobody
            raise ModelError("the client stopped answering: it sent no result for a call")
        if conversation.mark is None:
            conversation.mark = len(messages)
        conversation.turns += 1
        if conversation.turns > _MAX_TURNS_PER_REQUEST:
            raise ModelError(
                f"the model proposed only calls the contract denies, {_MAX_TURNS_PER_REQUEST} "
                "times in a row"
            )
        added = list(messages[conversation.mark :])
        request = ModelRequest(
            messages=[*conversation.messages, *added],
            tools=conversation.tools,
            route=conversation.route,
            settings=conversation.settings,
        )
        result = await self.gateway.complete(request)
        response = result.response
        conversation.usage = add_usage(conversation.usage, response.usage)
        if result.cost_usd is not None:
            conversation.cost_usd = (conversation.cost_usd or 0.0) + result.cost_usd
        return response


def _beginning(key: str, messages: Sequence[Message]) -> str:
    """A conversation's name from its start: the key, system prompt and first user turn."""
    first_user = next((m for m in messages if isinstance(m, UserMessage)), None)
    system = [m.content for m in messages if isinstance(m, SystemMessage)][:1]
    return digest(
        {"key": key, "system": system, "user": _plain(first_user) if first_user else None}
    )


def _plain(message: Message) -> dict[str, Any]:
    if isinstance(message, AssistantMessage):
        return {
            "role": "assistant",
            "content": message.text,
            "tool_calls": [c.model_dump(mode="json") for c in message.tool_calls],
        }
    if isinstance(message, ToolMessage):
        return {"role": "tool", "tool_call_id": message.call_id, "content": message.content}
    content: Any = message.content
    return {"role": message.role, "content": content}


def _waiting(approval_id: str) -> str:
    return (
        f"Proctor: a call the model proposed needs approval {approval_id}. A person approves "
        f"it in the web UI or with `proctor approve {approval_id}`; send your next message "
        "once it is decided, and the conversation goes on."
    )


def _prices(gateway: Gateway, name: str, route: str) -> PriceTable:
    """The run's prices: its model is the route, priced as the route's first deployment."""
    chain = gateway.chain(route)
    price = gateway.price(chain[0]) if chain else None
    return PriceTable({} if price is None else {name: price})
