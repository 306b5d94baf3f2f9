"""Fixture tools: the workflow's tools as the model sees them, answered from the case.

``fixture_registry`` builds, once per suite, a registry whose tools have the real tools'
names, schemas, effects, risk and idempotency, so the contract and policy treat each call
exactly as in production, but whose function returns the case's fixture instead of
running the tool: no write reaches a real system. Which case a call belongs to is read
from a context variable set by the task replaying it, so one registry serves every case
of a suite, concurrently.

Among the fixtures that match a call, the first one not used yet in this run answers;
when all are used, the last of them answers again. A call that matches none is a
*deviation*: it is recorded with the closest fixture, and the model gets an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from pydantic_core import to_jsonable_python

from proctor.errors import CredentialDenied, RunStateError, ToolExecutionError
from proctor.evals._case import Case, Fixture
from proctor.evals._expect import Deviation
from proctor.tools import Registry, ToolContext


class NoFixture(ToolExecutionError):
    """A replayed call that no fixture of its case answers."""


_ACTIVE: ContextVar[CaseReplay] = ContextVar("proctor_eval_case")
_ERROR_TYPES: dict[str, type[Exception]] = {}


class CaseReplay:
    """One case being replayed: which fixtures were used, and the calls none answered."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.used: set[int] = set()  # ids of the fixtures used: shared ones are shared objects
        self.deviations: list[Deviation] = []

    def activate(self) -> Callable[[], None]:
        """Make this the case that fixture tools answer for, in the current task."""
        token = _ACTIVE.set(self)
        return lambda: _ACTIVE.reset(token)

    def answer(self, tool: str, arguments: dict[str, Any], step: int) -> Any:
        """The fixture's result for this call; raises its error, or ``NoFixture``."""
        case = self.case
        candidates = case.by_tool.get(tool, ())
        chosen: Fixture | None = None
        for fixture in candidates:
            if fixture.pattern.matches(tool, arguments, case.input):
                chosen = fixture
                if id(fixture) not in self.used:
                    break
        if chosen is None:
            closest = self._closest(tool, arguments)
            self.deviations.append(
                Deviation(call=step + 1, tool=tool, arguments=arguments, closest=closest)
            )
            raise NoFixture(
                f"replay: no fixture for {tool} with these arguments ({closest}); the case "
                "cannot answer this call"
            )
        self.used.add(id(chosen))
        if chosen.error is not None:
            raise _error(*chosen.error)
        return chosen.result

    def _closest(self, tool: str, arguments: dict[str, Any]) -> str:
        candidates = self.case.by_tool.get(tool, ())
        if not candidates:
            tools = ", ".join(sorted(self.case.by_tool)) or "none"
            return f"the case has no fixture for this tool (fixtures exist for: {tools})"
        scored = [(f.pattern.mismatches(arguments, self.case.input), f) for f in candidates]
        differences, best = min(scored, key=lambda item: len(item[0]))
        return f"closest is {best.where}, which differs in {'; '.join(differences)}"


def _error(kind: str, message: str) -> Exception:
    """The exception a recorded failure is replayed as (same class name as recorded)."""
    if kind == "CredentialDenied":
        return CredentialDenied(message)  # replayed as the policy denial it was
    if kind == "Timeout":
        return TimeoutError(message)
    cls = _ERROR_TYPES.get(kind)
    if cls is None:
        cls = _ERROR_TYPES.setdefault(kind, type(kind, (ToolExecutionError,), {}))
    return cls(message or kind)


def _serve(name: str) -> Callable[..., Awaitable[Any]]:
    async def serve(ctx: ToolContext, **arguments: Any) -> Any:
        replay = _ACTIVE.get(None)
        if replay is None:
            raise RunStateError(
                f"fixture tool {name} was called outside a replay: run cases with run_suite"
            )
        return replay.answer(name, to_jsonable_python(arguments), ctx.step)

    return serve


def fixture_registry(registry: Registry) -> Registry:
    """The tools of ``registry`` answered from fixtures (never cached, never run)."""
    return Registry(
        dataclasses.replace(tool, function=_serve(tool.name), takes_context=True, cacheable=False)
        for tool in registry
    )
