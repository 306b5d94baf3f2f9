"""``AgentSession``: a governed run whose agent lives outside Proctor.

An MCP client, a framework's agent loop or a chat client behind the gateway decides which
tool to call; Proctor decides whether the call happens. The session is an ordinary run
whose "model" is the outside agent (``AgentModel``): each call the agent makes becomes a
model turn proposing that call, so it goes through the whole loop (argument validation,
policy, ordering and limits, approvals, credentials, provenance, redaction, the chained
record) and the run looks like any other in the trace, the UI, receipts, capture and
replay. The result, the denial or the pending approval goes back to the agent.

A call that needs a person's approval leaves the run waiting; the agent's repeated call
(the same tool and arguments) continues it once the approval is decided.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from proctor.errors import UsageError
from proctor.gateway import Price, PriceTable
from proctor.integrations._agent_model import Action, AgentModel, add_usage
from proctor.runtime import Runner, RunResult, Workflow, new_run_id
from proctor.store import EvidenceKeys, Store, Usage, canonical_json

CallStatus = Literal["ok", "error", "denied", "pending", "ended"]

# What the loop answers a call with when it did not run it, or it failed (the
# transcript's replies): anything else is the tool's result.
_REFUSALS = {"denied", "invalid_arguments", "approval_denied", "draft_recorded"}
_FAILURES = {"tool_error"}


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What became of one call the agent made.

    ``ok``: ``result`` is the tool's result. ``error``: the tool failed (``message``).
    ``denied``: policy, a person or the schema refused it, or it was recorded as a draft
    (``message`` says why). ``pending``: it waits for approval ``approval_id``; repeat the
    call once it is decided. ``ended``: the run is over (a ceiling, an escalation).
    """

    status: CallStatus
    result: Any = None
    message: str = ""
    approval_id: str | None = None
    call_id: str = ""


@dataclass(slots=True)
class _Pending:
    """A call waiting for a person's decision, and what a repeat of it looks like."""

    call_id: str
    tool: str
    arguments: bytes
    approval_id: str
    future: asyncio.Future[str]


class AgentSession:
    """One outside agent's session as one governed run (see the module's docstring).

    Start it with ``await AgentSession.start(store, workflow, agent="claude-desktop")``,
    pass each tool call through ``await session.call(tool, arguments)``, and end it with
    ``await session.close()``. Calls are taken one at a time, in the order they come.
    """

    def __init__(self, runner: Runner, model: AgentModel, run_id: str) -> None:
        self.runner = runner
        self.run_id = run_id
        self._model = model
        self._drive: asyncio.Task[RunResult] | None = None
        self._pending: _Pending | None = None
        self._lock = asyncio.Lock()
        self._result: RunResult | None = None
        self._usage = Usage()

    @classmethod
    async def start(
        cls,
        store: Store,
        workflow: Workflow,
        *,
        agent: str = "agent",
        input: dict[str, Any] | None = None,
        started_by: str = "agent",
        tenant: str = "default",
        keys: EvidenceKeys | None = None,
        runner: Runner | None = None,
        priced_as: str | None = None,
        prices: PriceTable | None = None,
    ) -> AgentSession:
        """Start the run (its input: ``input``, or ``{}``) under ``workflow``'s contract.

        ``agent`` names the outside agent (the run's model is ``agent:<agent>``);
        ``started_by`` is who the run acts for (separation of duties compares approvers
        with it). ``priced_as`` names the agent's own model: the usage its calls report
        (``call(usage=...)``) is priced as that model's in ``prices`` (default: the built-in
        table), so the run's cost and ``max_cost_usd`` count it; without a known price the
        turns cost nothing. Raises what starting a run raises.
        """
        label = re.sub(r"[^A-Za-z0-9_.-]+", "-", agent).strip("-") or "agent"
        model = AgentModel(label)
        if runner is None:
            known = None if priced_as is None else (prices or PriceTable()).price(priced_as)
            price = known or Price(input_per_million=0, output_per_million=0)
            table = PriceTable({model.name: price})
            runner = Runner(store, workflow, model=model, prices=table, keys=keys)
        session = cls(runner, model, new_run_id())
        session._drive = asyncio.create_task(
            runner.start(
                input or {},
                model=model.name,
                started_by=started_by,
                tenant=tenant,
                run_id=session.run_id,
            )
        )
        asked = asyncio.create_task(model.asked.wait())
        try:
            await asyncio.wait({asked, session._drive}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
        if session._drive.done():
            session._result = session._drive.result()  # raises why it could not start
        return session

    @property
    def ended(self) -> bool:
        """Whether the run is over (closed, or ended by the loop)."""
        return self._result is not None and self._result.status == "finished"

    @property
    def waiting_for(self) -> str | None:
        """The approval the session waits for, if any."""
        return None if self._pending is None else self._pending.approval_id

    async def call(
        self, tool: str, arguments: dict[str, Any] | None = None, *, usage: Usage | None = None
    ) -> CallOutcome:
        """Pass one call of the agent through the run; what became of it.

        ``usage``: the tokens the agent's own model spent since its last call, recorded on
        this call's turn (or the next turn, if this call is a repeat), so the run's token
        totals and ``limits.max_tokens`` count them.
        """
        arguments = dict(arguments or {})
        self._usage = add_usage(self._usage, usage)
        async with self._lock:
            if self.ended:
                return self._over()
            pending = self._pending
            if pending is not None:
                return await self._repeat(pending, tool, arguments)
            if self._drive is None or self._drive.done():
                return self._over()
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            call_id = "call_" + secrets.token_hex(8)
            action = Action(call_id, tool, arguments, future, usage=self._take_usage())
            await self._model.actions.put(action)
            return await self._settle(call_id, tool, arguments, future)

    async def close(
        self, text: str = "The agent ended its session.", *, usage: Usage | None = None
    ) -> RunResult | None:
        """End the run with ``text`` as its final answer (the contract's final checks and
        required steps apply). A run waiting for approval stays waiting; returns where
        the run stands (``None`` if it never started)."""
        self._usage = add_usage(self._usage, usage)
        return await self._end(Action(end_text=text))

    async def fail(self, reason: str) -> RunResult | None:
        """End the run because the agent itself failed (its model, its own loop): recorded
        as a model error, so the contract's ``escalation.on_model_error`` decides the
        outcome (``failed`` by default). A run waiting for approval stays waiting."""
        return await self._end(Action(failure=reason))

    async def _end(self, action: Action) -> RunResult | None:
        async with self._lock:
            drive = self._drive
            if drive is not None and not drive.done() and self._pending is None:
                action.usage = self._take_usage()
                await self._model.actions.put(action)
                self._result = await drive
            return self._result

    def _take_usage(self) -> Usage:
        usage, self._usage = self._usage, Usage()
        return usage

    # --- inside ----------------------------------------------------------------------

    async def _settle(
        self, call_id: str, tool: str, arguments: dict[str, Any], future: asyncio.Future[str]
    ) -> CallOutcome:
        """Wait for the call's reply, or for the loop to stop (an approval, the end)."""
        assert self._drive is not None
        either: list[asyncio.Future[Any]] = [future, self._drive]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if future.done():
            return _outcome(call_id, future.result())
        try:
            self._result = self._drive.result()
        except Exception as exc:  # the run could not go on (a store error, a broken chain)
            self._result = None
            self._drive = None
            return CallOutcome("ended", message=f"the run stopped: {exc}", call_id=call_id)
        state = self._result.state
        if state.status == "awaiting_approval" and state.pending_approval is not None:
            self._pending = _Pending(
                call_id, tool, _fingerprint(arguments), state.pending_approval, future
            )
            return self._waiting(self._pending)
        return self._over(call_id)

    async def _repeat(self, pending: _Pending, tool: str, arguments: dict[str, Any]) -> CallOutcome:
        """A call while one waits for approval: its repeat continues it once decided."""
        if tool != pending.tool or _fingerprint(arguments) != pending.arguments:
            return CallOutcome(
                "pending",
                message=f"this session waits for approval {pending.approval_id} of a call "
                f"to {pending.tool}; nothing else runs until it is decided. Decide it, "
                "then repeat that call",
                approval_id=pending.approval_id,
            )
        approval = await self.runner.store.get_approval(pending.approval_id)
        if approval is None or approval.status == "pending":
            return self._waiting(pending)
        self._pending = None
        self._drive = asyncio.create_task(
            self.runner.resume(self.run_id, reason=f"approval {approval.status}")
        )
        return await self._settle(pending.call_id, tool, arguments, pending.future)

    def _waiting(self, pending: _Pending) -> CallOutcome:
        return CallOutcome(
            "pending",
            message=f"{pending.tool} needs approval {pending.approval_id}: a person approves "
            f"it in the web UI or with `proctor approve {pending.approval_id}`; then repeat "
            "this call to continue",
            approval_id=pending.approval_id,
            call_id=pending.call_id,
        )

    def _over(self, call_id: str = "") -> CallOutcome:
        state = None if self._result is None else self._result.state
        if state is None:
            return CallOutcome("ended", message="the session's run is over", call_id=call_id)
        reason = state.finish_reason or "the run finished"
        return CallOutcome(
            "ended",
            message=f"run {self.run_id} is over ({state.outcome}): {reason}",
            call_id=call_id,
        )


def _fingerprint(arguments: dict[str, Any]) -> bytes:
    try:
        return canonical_json(arguments)
    except TypeError as exc:
        raise UsageError(f"a call's arguments must be JSON: {exc}") from None


def _outcome(call_id: str, content: str) -> CallOutcome:
    try:
        reply = orjson.loads(content)
    except orjson.JSONDecodeError:
        return CallOutcome("ok", result=content, call_id=call_id)
    if isinstance(reply, dict) and reply.keys() == {"error", "status"}:
        status = reply["status"]
        if status in _REFUSALS:
            return CallOutcome("denied", message=str(reply["error"]), call_id=call_id)
        if status in _FAILURES:
            return CallOutcome("error", message=str(reply["error"]), call_id=call_id)
    return CallOutcome("ok", result=reply, call_id=call_id)
