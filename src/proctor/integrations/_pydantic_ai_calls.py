"""One governed session of a pydantic-ai agent: its tools as Proctor tools, its calls
through an ``AgentSession``, and the answers pydantic-ai understands (see
``proctor.integrations.pydantic_ai``).

A call is run by Proctor, not around it: the Proctor tool's handler runs the agent's own
tool (in the context of the agent's call, so its tracing and context variables hold), and
only when the loop lets it. What Proctor answers becomes what pydantic-ai expects: the
tool's own result or exception, ``ToolFailed`` for a refusal (the model sees why and
adapts), ``ApprovalRequired`` for a call waiting for a person.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import ApprovalRequired, ToolFailed
from pydantic_ai.tools import DeferredToolResults, ToolApproved, ToolDenied
from pydantic_core import to_jsonable_python

from proctor.errors import NotFoundError, RunStateError, ToolExecutionError, UsageError
from proctor.integrations._session import AgentSession, CallOutcome
from proctor.runtime import decide_approval
from proctor.store import EvidenceKeys, Usage
from proctor.tools import Registry


class RunEnded(RunStateError):
    """Proctor ended the run the agent's calls go through (a ceiling, an escalation)."""


class ApprovalMismatch(RunStateError):
    """Deferred tool results decide a call Proctor holds for approval in a way Proctor
    cannot record (nobody named, or the opposite of Proctor's decision)."""


def jsonable(value: Any) -> Any:
    """``value`` as JSON for the record (bytes as base64, anything else as its text)."""
    return to_jsonable_python(value, bytes_mode="base64", fallback=str)


@dataclass(slots=True)
class Invocation:
    """One call of the agent's tool, run when (and if) Proctor's loop lets it."""

    name: str
    call: Callable[[], Coroutine[Any, Any, Any]]
    context: contextvars.Context
    ran: bool = False
    result: Any = None
    error: Exception | None = None

    async def run(self) -> Any:
        task = asyncio.create_task(self.call(), context=self.context)
        try:
            self.result = await task
        except Exception as exc:
            self.error = exc
            raise
        self.ran = True
        return jsonable(self.result)


@dataclass(slots=True)
class Deferred:
    """A call ended as pydantic-ai's deferred approval while Proctor holds it."""

    approval_id: str
    tool: str
    arguments: dict[str, Any]


@dataclass
class Governed:
    """One Proctor session: a pydantic-ai run, and the runs that continue its deferred
    calls (the registry is fixed when the session starts)."""

    registry: Registry = field(default_factory=Registry)
    session: AgentSession | None = None
    deferred: dict[str, Deferred] = field(default_factory=dict)
    """By pydantic-ai's tool call id."""
    current: Invocation | None = None
    usage: Usage = field(default_factory=Usage)
    """The agent's model tokens not yet recorded on a turn."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    starting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def take_usage(self) -> Usage:
        usage, self.usage = self.usage, Usage()
        return usage

    async def call(
        self, name: str, arguments: dict[str, Any], tool_call_id: str, invocation: Invocation
    ) -> Any:
        """Pass one call through the session; what pydantic-ai should see of it."""
        assert self.session is not None
        async with self.lock:
            self.current = invocation
            try:
                outcome = await self.session.call(name, arguments, usage=self.take_usage())
            finally:
                self.current = None
        return self._answer(name, arguments, tool_call_id, outcome, invocation)

    def _answer(
        self,
        name: str,
        arguments: dict[str, Any],
        tool_call_id: str,
        outcome: CallOutcome,
        invocation: Invocation,
    ) -> Any:
        assert self.session is not None
        match outcome.status:
            case "ok":
                return invocation.result if invocation.ran else outcome.result
            case "error":
                if invocation.error is not None:  # the tool's own exception, as without Proctor
                    raise invocation.error
                raise ToolFailed(f"{name} failed: {outcome.message}")
            case "denied":
                raise ToolFailed(f"Proctor denied this call: {outcome.message}")
            case "pending" if outcome.call_id and outcome.approval_id:
                self.deferred[tool_call_id] = Deferred(outcome.approval_id, name, arguments)
                raise ApprovalRequired(
                    metadata={
                        "proctor_run_id": self.session.run_id,
                        "proctor_approval_id": outcome.approval_id,
                        "reason": outcome.message,
                    }
                )
            case "pending":  # held behind another call's approval: not run
                raise ToolFailed(f"Proctor did not run this call: {outcome.message}")
            case _:
                raise RunEnded(
                    f"{outcome.message}. The agent's calls go through that run, so the "
                    "agent stops here; start a new agent run to go on"
                )

    async def apply(self, results: DeferredToolResults, *, keys: EvidenceKeys | None) -> None:
        """Record what ``results`` decide of the calls Proctor holds for approval.

        A decision Proctor has not recorded yet is recorded as ``answered_by``'s. A
        denied call is repeated here (pydantic-ai will not call it again), so the run
        records the denial and goes on.
        """
        for call_id, decision in results.to_tool_call_results().items():
            held = self.deferred.get(call_id)
            if held is None or not isinstance(decision, ToolApproved | ToolDenied):
                continue
            assert self.session is not None  # a call is held only by a started session
            if isinstance(decision, ToolApproved) and decision.override_args is not None:
                raise UsageError(
                    f"ToolApproved(override_args=...) changes the {held.tool} call that "
                    f"Proctor's approval {held.approval_id} was asked for; a Proctor approval "
                    "covers one exact call. Fix: approve it as it is, or deny it and let the "
                    "model call again"
                )
            approved = isinstance(decision, ToolApproved)
            reason = "" if isinstance(decision, ToolApproved) else decision.message
            await self._record(held, approved, results.answered_by.get(call_id), reason, keys)
            del self.deferred[call_id]
            if not approved:
                async with self.lock:
                    await self.session.call(held.tool, held.arguments, usage=self.take_usage())

    async def wait(
        self, call_ids: Iterable[str], wait_s: float, *, keys: EvidenceKeys | None
    ) -> DeferredToolResults | None:
        """Wait up to ``wait_s`` for a person to decide, in Proctor, the held calls among
        ``call_ids``: the decisions made, as pydantic-ai's results (``None``: none)."""
        held = {i: self.deferred[i] for i in call_ids if i in self.deferred}
        if not held:
            return None
        assert self.session is not None  # a call is held only by a started session
        store = self.session.runner.store
        decided: dict[str, bool | ToolApproved | ToolDenied] = {}
        deadline = time.monotonic() + wait_s
        while True:
            for call_id, deferred in held.items():
                found = await store.get_approval(deferred.approval_id)
                if call_id in decided or found is None or found.status == "pending":
                    continue
                why = f"Proctor: {found.status} by {found.decided_by}: {found.decision_reason}"
                approved = found.status == "approved"
                decided[call_id] = ToolApproved() if approved else ToolDenied(why)
            left = deadline - time.monotonic()
            if len(decided) == len(held) or left <= 0:
                break
            await asyncio.sleep(min(0.2, left))
        if not decided:
            return None
        results = DeferredToolResults(approvals=decided)
        await self.apply(results, keys=keys)
        return results

    async def _record(
        self,
        held: Deferred,
        approved: bool,
        by: str | None,
        reason: str,
        keys: EvidenceKeys | None,
    ) -> None:
        assert self.session is not None
        store = self.session.runner.store
        approval = await store.get_approval(held.approval_id)
        if approval is None:
            raise NotFoundError(f"no approval {held.approval_id!r} in this store")
        said = "approve" if approved else "deny"
        if approval.status == "pending":
            if not by:
                raise ApprovalMismatch(
                    f"the deferred tool results {said} the {held.tool} call, but Proctor's "
                    f"approval {held.approval_id} is undecided and they name nobody who "
                    f"decided. Fix: pass answered_by={{tool_call_id: 'NAME'}} (a person other "
                    f"than the run's starter), or decide it first: `proctor approve "
                    f"{held.approval_id} --as NAME`, the web UI, or decide_approval()"
                )
            await decide_approval(
                store,
                held.approval_id,
                approved=approved,
                by=by,
                reason=reason,
                redactor=self.session.runner.redactor,
                keys=keys,
            )
        elif approval.status == "approved" and not approved:
            raise ApprovalMismatch(
                f"approval {held.approval_id} of the {held.tool} call was approved in Proctor "
                f"by {approval.decided_by}, but the deferred tool results deny it. Fix: pass "
                "the decision Proctor recorded"
            )


@dataclass(frozen=True, slots=True)
class Handler:
    """A Proctor tool's handler: runs the agent's call that is passing through now."""

    governed: Governed
    name: str

    async def __call__(self, arguments: dict[str, Any]) -> Any:
        invocation = self.governed.current
        if invocation is None or invocation.name != self.name:
            raise ToolExecutionError(
                f"{self.name} was not run: the pydantic-ai agent is not calling it now"
            )
        return await invocation.run()
