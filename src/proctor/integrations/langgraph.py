"""LangChain and LangGraph agents under Proctor: each tool call is governed and recorded.

``create_agent(model, tools, middleware=[ProctorMiddleware(store, contract)])`` (LangChain
1.x), or ``middleware.tool_node(tools)`` as the tool node of a LangGraph graph of your
own. Each graph thread (``thread_id``) is one Proctor run at a time, whose "model" is the
agent (see ``AgentSession``); a call is validated, checked by policy, approved,
credentialed and recorded, and then:

- allowed: the tool runs as LangGraph runs it (in its own task, config and callbacks) and
  its ``ToolMessage`` (or ``Command``) goes back unchanged;
- denied or failed: an error ``ToolMessage`` says why, so the model can change course
  (a denied tool never runs);
- waiting for a person: ``interrupt(...)`` pauses the graph (your checkpointer keeps it)
  with the approval's id; once a person decided it (the web UI, ``proctor approve``),
  ``Command(resume=...)`` goes on and the tool runs once. A resume value
  ``{"approved": True, "by": "bob@example.com"}`` records the decision itself;
- the run is over (a ceiling, an escalation): ``RunStateError`` stops the graph, and the
  thread's next call starts a new run.

``create_agent``'s runs end with the agent's final answer; a graph of your own ends its
threads' runs with ``close()`` / ``aclose()`` (or the middleware as a context manager).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from proctor.errors import needs_extra

# LangChain and LangGraph come with the langgraph extra, not with the core.
with needs_extra("proctor.integrations.langgraph"):
    from langchain.agents.middleware import AgentMiddleware, AgentState
    from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from langgraph.config import get_config
    from langgraph.prebuilt import ToolNode
    from langgraph.prebuilt.tool_node import ToolCallRequest, ToolRuntime
    from langgraph.runtime import Runtime
    from langgraph.types import Command, interrupt

from proctor.contracts import Contract, load_contract
from proctor.errors import RunStateError, ToolExecutionError
from proctor.integrations._bridge import Bridge
from proctor.integrations._session import CallOutcome
from proctor.integrations._threads import GovernedThreads, SessionStart, ToolShape
from proctor.store import EvidenceKeys, Store

__all__ = ["ProctorMiddleware"]

Answer = ToolMessage | Command[Any]
StartedBy = str | Callable[[RunnableConfig], str]
RunInput = Mapping[str, Any] | Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class _Call:
    key: str
    id: str
    tool: str
    arguments: dict[str, Any]


class ProctorMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Governs an agent's tool calls under ``contract`` (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        contract: Contract | str,
        *,
        agent: str = "langgraph",
        started_by: StartedBy | None = None,
        input: RunInput | None = None,
        tenant: str = "default",
        keys: EvidenceKeys | None = None,
        tool_timeout_s: float = 300.0,
    ) -> None:
        """``contract``: a ``Contract`` or a contract file's path. ``agent`` names the
        runs' model (``agent:<agent>``). ``started_by`` is who the runs act for (an
        approver must be someone else): a name, or a function of the graph's config
        (``lambda config: config["configurable"]["user_id"]``); default
        ``langgraph:<agent>``. ``input`` is each run's input, or a function of the graph
        state; default: the thread id and the last human message. A tool running longer
        than ``tool_timeout_s`` is recorded as failed."""
        contract = contract if isinstance(contract, Contract) else load_contract(contract)
        self.started_by: StartedBy = started_by or f"langgraph:{agent}"
        self.input = input
        self.threads = GovernedThreads(
            store,
            contract,
            agent=agent,
            instructions=f"A LangGraph agent's thread under the {contract.workflow} contract: "
            "each model turn is the agent's next tool call.",
            tenant=tenant,
            keys=keys,
            tool_timeout_s=tool_timeout_s,
        )

    def tool_node(self, tools: Sequence[BaseTool | Callable[..., Any]], **options: Any) -> ToolNode:
        """A ``ToolNode`` running ``tools`` under this middleware, for a graph of your own
        (``options`` go to ``ToolNode``)."""
        return ToolNode(
            tools,
            wrap_tool_call=self.wrap_tool_call,
            awrap_tool_call=self.awrap_tool_call,
            **options,
        )

    def runs(self, thread_id: str) -> list[str]:
        """The Proctor runs of a thread, oldest first."""
        return list(self.threads.runs.get(thread_id, []))

    # --- the hooks ---------------------------------------------------------------------

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Answer]
    ) -> Answer:
        call = _call(request)
        with self.threads.turn(call.key):
            known = self._known(call)
            if known is not None:  # the graph resumed and runs a finished call again
                return known

            def execute(arguments: dict[str, Any]) -> Answer:
                return handler(_with(request, arguments))

            def govern() -> tuple[CallOutcome, Bridge[Answer]]:
                start = lambda: self._start(request, call.key)  # noqa: E731
                return self.threads.call(
                    call.key, call.tool, call.arguments, execute, _recorded, start
                )

            outcome, bridge = govern()
            problem = ""
            while _waits(outcome):
                answer = interrupt(_question(call, outcome, problem))
                assert outcome.approval_id is not None
                problem = self.threads.decide(call.key, outcome.approval_id, answer)
                outcome, bridge = govern()
            return self._answer(call, outcome, bridge)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[Answer]]
    ) -> Answer:
        call = _call(request)
        async with self.threads.aturn(call.key):
            known = self._known(call)
            if known is not None:
                return known

            async def execute(arguments: dict[str, Any]) -> Answer:
                return await handler(_with(request, arguments))

            async def govern() -> tuple[CallOutcome, Bridge[Answer]]:
                start = lambda: self._start(request, call.key)  # noqa: E731
                return await self.threads.acall(
                    call.key, call.tool, call.arguments, execute, _recorded, start
                )

            outcome, bridge = await govern()
            problem = ""
            while _waits(outcome):
                answer = interrupt(_question(call, outcome, problem))
                assert outcome.approval_id is not None
                problem = await self.threads.adecide(call.key, outcome.approval_id, answer)
                outcome, bridge = await govern()
            return self._answer(call, outcome, bridge)

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        self.threads.close(_thread_key(get_config()), _final_text(state), keep_waiting=True)
        return None

    async def aafter_agent(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        await self.threads.aclose(_thread_key(get_config()), _final_text(state), keep_waiting=True)
        return None

    # --- ending ------------------------------------------------------------------------

    def close(self, thread_id: str | None = None) -> None:
        """End the runs of ``thread_id`` (default: every thread's) from sync code."""
        self.threads.close(thread_id)

    async def aclose(self, thread_id: str | None = None) -> None:
        """End the runs of ``thread_id`` (default: every thread's) from async code."""
        await self.threads.aclose(thread_id)

    def __enter__(self) -> ProctorMiddleware:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> ProctorMiddleware:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- inside ------------------------------------------------------------------------

    def _start(self, request: ToolCallRequest, key: str) -> SessionStart:
        runtime = request.runtime
        tools = list(runtime.tools) if isinstance(runtime, ToolRuntime) else []
        if request.tool is not None and request.tool not in tools:
            tools.append(request.tool)
        config: RunnableConfig = runtime.config if isinstance(runtime, ToolRuntime) else {}
        started_by = self.started_by if isinstance(self.started_by, str) else None
        if started_by is None:
            assert callable(self.started_by)
            started_by = self.started_by(config)
        if self.input is None:
            run_input = {"thread_id": key, "request": _request_text(request.state)}
        elif callable(self.input):
            run_input = dict(self.input(request.state))
        else:
            run_input = dict(self.input)
        return SessionStart([_shape(tool) for tool in tools], run_input, started_by)

    def _known(self, call: _Call) -> Answer | None:
        known: Answer | None = self.threads.recall(call.key, call.id) if call.id else None
        return known

    def _answer(self, call: _Call, outcome: CallOutcome, bridge: Bridge[Answer]) -> Answer:
        if bridge.raised is not None:  # recorded as the tool's error; LangGraph decides
            raise bridge.raised
        answer: Answer
        if outcome.status == "ended":
            raise RunStateError(
                f"Proctor ended this thread's run: {outcome.message}. The thread's next "
                "tool call starts a new run; raise the contract's limits if it ended too soon"
            )
        if outcome.status == "pending":  # another call of the thread waits for a person
            return _error(call, f"Not run: {outcome.message}")
        executed = bridge.executed
        if outcome.status == "ok" and executed is not None:
            answer = executed
        elif outcome.status == "ok":
            answer = ToolMessage(_content(outcome.result), tool_call_id=call.id, name=call.tool)
        elif isinstance(executed, ToolMessage) and executed.status == "error":
            answer = executed  # the tool failed, and LangChain said so in its own words
        elif outcome.status == "error":
            answer = _error(call, outcome.message)
        else:
            answer = _error(call, f"Proctor denied this call: {outcome.message}")
        if call.id:
            self.threads.remember(call.key, call.id, answer)
        return answer


def _call(request: ToolCallRequest) -> _Call:
    config = request.runtime.config if isinstance(request.runtime, ToolRuntime) else get_config()
    tool_call = request.tool_call
    return _Call(
        _thread_key(config),
        str(tool_call.get("id") or ""),
        tool_call["name"],
        dict(tool_call["args"]),
    )


def _thread_key(config: RunnableConfig) -> str:
    thread = (config.get("configurable") or {}).get("thread_id")
    return "default" if thread is None else str(thread)


def _with(request: ToolCallRequest, arguments: dict[str, Any]) -> ToolCallRequest:
    return request.override(tool_call={**request.tool_call, "args": arguments})


def _waits(outcome: CallOutcome) -> bool:
    """This very call waits for a person (not another call of the thread)."""
    return outcome.status == "pending" and bool(outcome.call_id)


def _question(call: _Call, outcome: CallOutcome, problem: str) -> dict[str, Any]:
    """The interrupt's value: which approval the call waits for, and how to go on."""
    approval = outcome.approval_id
    message = (
        f"{call.tool} needs approval {approval}: a person approves it in the web UI or with "
        f"`proctor approve {approval}`, then the graph resumes (Command(resume=...))"
    )
    question = {
        "proctor": "approval",
        "approval_id": approval,
        "tool": call.tool,
        "args": call.arguments,
        "message": message,
    }
    return {**question, "problem": problem} if problem else question


def _recorded(answer: Any) -> Any:
    """What the run records of the tool's answer; an error answer is the tool's failure."""
    if isinstance(answer, list):  # a tool's several messages or commands
        return [_recorded(part) for part in answer]
    if isinstance(answer, ToolMessage):
        if answer.status == "error":
            raise ToolExecutionError(str(answer.text) or "the tool failed")
        content = answer.content
        if isinstance(content, str) and content.startswith(("{", "[")):
            with contextlib.suppress(orjson.JSONDecodeError):  # a dict or list LangChain wrote
                return orjson.loads(content)
        return content
    if not isinstance(answer, Command):
        return str(answer)
    update = answer.update if isinstance(answer.update, dict) else {}
    messages = update.get("messages", [])
    return {
        "command": {
            "updates": sorted(str(name) for name in update),
            "messages": [m.content for m in messages if isinstance(m, ToolMessage)],
        }
    }


def _shape(tool: BaseTool) -> ToolShape:
    spec = convert_to_openai_tool(tool)["function"]
    parameters = spec.get("parameters") or {"type": "object", "properties": {}}
    return ToolShape(spec["name"], spec.get("description") or "", parameters)


def _error(call: _Call, text: str) -> ToolMessage:
    return ToolMessage(content=text, tool_call_id=call.id, name=call.tool, status="error")


def _content(result: Any) -> str | list[str | dict[Any, Any]]:
    if isinstance(result, str):
        return result
    if isinstance(result, list) and all(isinstance(part, str | dict) for part in result):
        return result
    return orjson.dumps(result).decode()


def _messages(state: Any) -> list[AnyMessage]:
    messages = state.get("messages", []) if isinstance(state, Mapping) else []
    return list(messages) if isinstance(messages, list) else []


def _request_text(state: Any) -> str:
    humans = [m for m in _messages(state) if isinstance(m, HumanMessage)]
    return str(humans[-1].text) if humans else ""


def _final_text(state: Any) -> str:
    messages = _messages(state)
    last = messages[-1] if messages else None
    return str(last.text) if isinstance(last, AIMessage) else ""
