"""One governed session per conversation thread, for a framework that runs the tools.

``GovernedThreads`` keeps an ``AgentSession`` per thread key (LangGraph's ``thread_id``).
A call goes through the session (validation, policy, approvals, credentials, the record)
and, once allowed, the session hands the tool's execution back to the caller: the tool
runs in the caller's own task or thread, so the framework's context (its config,
callbacks, interrupts) holds, and Proctor records what it returned. Async callers keep
their sessions on their own event loop; sync callers on a private loop thread.
Framework-free: the adapter supplies how to run a tool and what of its answer to record.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from proctor.contracts import Contract
from proctor.errors import AccessDenied, RunStateError, ToolExecutionError, UsageError
from proctor.integrations._bridge import Bridge, serve_async, serve_sync
from proctor.integrations._imported import imported_tool
from proctor.integrations._session import AgentSession, CallOutcome
from proctor.runtime import UnverifiedRunError, Workflow, decide_approval
from proctor.store import EvidenceKeys, Store
from proctor.tools import Registry

T = TypeVar("T")
R = TypeVar("R")

_REMEMBERED = 256
"""Answers kept per thread, by call id: a resumed graph may run a finished call again."""


@dataclass(frozen=True, slots=True)
class ToolShape:
    """A framework tool as the model sees it: name, description, JSON Schema arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SessionStart:
    """What a thread's new run starts with: its tools, input and principal."""

    tools: list[ToolShape]
    input: dict[str, Any]
    started_by: str


@dataclass(eq=False)
class _Thread:
    key: str
    loop: asyncio.AbstractEventLoop
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by the call the session serves."""
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by an async caller's whole call, waiting for a person included."""
    session: AgentSession | None = None
    current: Bridge[Any] | None = None


@dataclass(frozen=True, slots=True)
class _Handler:
    """A Proctor tool's handler: the call the session allowed runs at its caller."""

    thread: _Thread
    name: str

    async def __call__(self, arguments: dict[str, Any]) -> Any:
        bridge = self.thread.current
        if bridge is None or bridge.tool != self.name:
            raise ToolExecutionError(f"{self.name} ran without the agent's call of it")
        return await bridge.run(arguments)


class GovernedThreads:
    """The sessions of one agent's threads (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        contract: Contract,
        *,
        agent: str,
        instructions: str,
        tenant: str = "default",
        keys: EvidenceKeys | None = None,
        tool_timeout_s: float = 300.0,
    ) -> None:
        self.store = store
        self.contract = contract
        self.agent = agent
        self.instructions = instructions
        self.tenant = tenant
        self.keys = keys
        self.tool_timeout_s = tool_timeout_s
        self.runs: dict[str, list[str]] = {}
        """Each thread's Proctor runs, oldest first."""
        self._threads: dict[str, _Thread] = {}
        self._answers: dict[str, OrderedDict[str, Any]] = {}
        self._turns: dict[str, threading.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._guard = threading.Lock()

    # --- calls -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def aturn(self, key: str) -> AsyncIterator[None]:
        """One call of thread ``key`` at a time, from its start to its answer (a resumed
        call records its decision before the thread's other calls go on)."""
        async with self._thread(key).turn:
            yield

    @contextlib.contextmanager
    def turn(self, key: str) -> Iterator[None]:
        """``aturn`` for sync callers."""
        with self._guard:
            lock = self._turns.setdefault(key, threading.Lock())
        with lock:
            yield

    async def acall(
        self,
        key: str,
        tool: str,
        arguments: dict[str, Any],
        execute: Callable[[dict[str, Any]], Awaitable[R]],
        record: Callable[[R], Any],
        start: Callable[[], SessionStart],
    ) -> tuple[CallOutcome, Bridge[R]]:
        """Govern one call from an async caller; the tool runs in this task."""
        return await serve_async(
            tool, lambda bridge: self._call(key, tool, arguments, bridge, start), execute, record
        )

    def call(
        self,
        key: str,
        tool: str,
        arguments: dict[str, Any],
        execute: Callable[[dict[str, Any]], R],
        record: Callable[[R], Any],
        start: Callable[[], SessionStart],
    ) -> tuple[CallOutcome, Bridge[R]]:
        """Govern one call from a sync caller; the tool runs in this thread."""
        return serve_sync(
            tool,
            lambda bridge: self._submit(self._call(key, tool, arguments, bridge, start)),
            execute,
            record,
        )

    async def _call(
        self,
        key: str,
        tool: str,
        arguments: dict[str, Any],
        bridge: Bridge[Any],
        start: Callable[[], SessionStart],
    ) -> CallOutcome:
        thread = self._thread(key)
        async with thread.lock:
            if thread.session is None:
                thread.session = await self._start(thread, start())
            thread.current = bridge
            try:
                outcome = await thread.session.call(tool, arguments)
            finally:
                thread.current = None
            if outcome.status == "ended":  # the thread's next call starts a new run
                thread.session = None
            return outcome

    async def _start(self, thread: _Thread, start: SessionStart) -> AgentSession:
        tools = []
        for shape in start.tools:
            tools.append(
                imported_tool(
                    self.contract,
                    shape.name,
                    shape.parameters,
                    _Handler(thread, shape.name),
                    description=shape.description,
                    timeout_s=self.tool_timeout_s,
                )
            )
        workflow = Workflow(
            name=self.contract.workflow,
            registry=Registry(tools),
            contract=self.contract,
            instructions=self.instructions,
            default_model=f"agent:{self.agent}",
        )
        session = await AgentSession.start(
            self.store,
            workflow,
            agent=self.agent,
            input=start.input,
            started_by=start.started_by,
            tenant=self.tenant,
            keys=self.keys,
        )
        self.runs.setdefault(thread.key, []).append(session.run_id)
        return session

    def _thread(self, key: str) -> _Thread:
        loop = asyncio.get_running_loop()
        thread = self._threads.get(key)
        if thread is not None and thread.loop is not loop:
            if thread.session is not None:
                raise UsageError(
                    f"thread {key!r}'s Proctor run {thread.session.run_id} lives on another "
                    "event loop: keep a conversation on one loop (one asyncio.run around "
                    "it, or your server's loop), or invoke the graph synchronously throughout"
                )
            thread = None
        if thread is None:
            thread = self._threads[key] = _Thread(key, loop)
        return thread

    # --- approvals and answers ----------------------------------------------------------

    async def adecide(self, key: str, approval_id: str, answer: Any) -> str:
        """Record the decision a resume value carries (``{"approved": bool, "by": name,
        "reason": ...}``), unless the approval was decided already; what was wrong with
        it, or ``""``."""
        if not isinstance(answer, dict) or "approved" not in answer:
            return ""
        approval = await self.store.get_approval(approval_id)
        if approval is None or approval.status != "pending":
            return ""
        by = answer.get("by")
        if not isinstance(by, str) or not by.strip():
            return (
                f"the resume value deciding approval {approval_id} named no approver: resume "
                "with {'approved': True, 'by': 'bob@example.com'} (someone other than the "
                "one the run acts for)"
            )
        thread = self._threads.get(key)
        session = None if thread is None else thread.session
        try:
            await decide_approval(
                self.store,
                approval_id,
                approved=bool(answer["approved"]),
                by=by,
                reason=str(answer.get("reason") or ""),
                redactor=None if session is None else session.runner.redactor,
                keys=self.keys,
            )
        except UnverifiedRunError:  # a broken record is no decision's problem: it stops
            raise
        except (AccessDenied, RunStateError, UsageError) as exc:  # who decides, and how
            return f"the decision in the resume value was not recorded: {exc}"
        return ""

    def decide(self, key: str, approval_id: str, answer: Any) -> str:
        """``adecide`` for a sync caller."""
        return self._submit(self.adecide(key, approval_id, answer)).result()

    def remember(self, key: str, call_id: str, answer: Any) -> None:
        """Keep a finished call's answer, for a resumed graph running the call again."""
        answers = self._answers.setdefault(key, OrderedDict())
        answers[call_id] = answer
        while len(answers) > _REMEMBERED:
            answers.popitem(last=False)

    def recall(self, key: str, call_id: str) -> Any:
        """The answer a finished call got, or ``None``."""
        answers = self._answers.get(key)
        return None if answers is None else answers.get(call_id)

    # --- closing -----------------------------------------------------------------------

    async def aclose(
        self, key: str | None = None, text: str = "", *, keep_waiting: bool = False
    ) -> None:
        """End the runs of thread ``key`` (every thread: ``None``) with ``text`` as the
        agent's final answer. A run waiting for approval stays waiting (and with
        ``keep_waiting``, its thread stays, for the call that continues it)."""
        running = asyncio.get_running_loop()
        for thread in self._closing(key, running, keep_waiting):
            if thread.loop is running:
                await self._end(thread, text)
            else:
                ending = asyncio.run_coroutine_threadsafe(self._end(thread, text), thread.loop)
                await asyncio.wrap_future(ending)
        if key is None:
            self._stop()

    def close(self, key: str | None = None, text: str = "", *, keep_waiting: bool = False) -> None:
        """``aclose`` for a sync caller (threads an async caller ran need ``aclose``)."""
        for thread in self._closing(key, self._loop, keep_waiting):
            self._submit(self._end(thread, text)).result()
        if key is None:
            self._stop()

    def _closing(
        self, key: str | None, loop: asyncio.AbstractEventLoop | None, keep_waiting: bool
    ) -> list[_Thread]:
        threads = [
            thread
            for k, thread in list(self._threads.items())
            if (key is None or k == key)
            and not (keep_waiting and thread.session and thread.session.waiting_for)
        ]
        live = [t for t in threads if t.session is not None and not t.loop.is_closed()]
        for thread in live:
            if thread.loop is not loop and thread.loop is not self._loop:
                raise UsageError(
                    f"thread {thread.key!r} runs on another event loop: close it there "
                    "(await aclose() on the loop that ran it)"
                )
        for thread in threads:
            del self._threads[thread.key]
            self._answers.pop(thread.key, None)
            self._turns.pop(thread.key, None)
        return live

    async def _end(self, thread: _Thread, text: str) -> None:
        async with thread.lock:
            if thread.session is not None:
                await thread.session.close(text or "The agent finished.")
                thread.session = None

    # --- the sync callers' loop ------------------------------------------------------------

    def _submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        with self._guard:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._loop_thread = threading.Thread(
                    target=self._loop.run_forever, name="proctor-sessions", daemon=True
                )
                self._loop_thread.start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(work, loop)

    def _stop(self) -> None:
        with self._guard:
            loop, thread, self._loop, self._loop_thread = self._loop, self._loop_thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
