"""What a decision leads to: run the call, ask first, draft it, tell the model, escalate, stop.

``consequence`` reads the decision, the contract's escalation rules and the run's state;
the runtime carries out the answer and records it. A denial's ``trigger`` names the
escalation rule it counts against (``Escalation.mode_for``): none configured, the model
gets the denial as the call's result and goes on; a ceiling (``budget_exceeded``) always
ends the run. A rule that names its own ``on_violation`` decides for itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.contracts import Contract, Violation
from proctor.policy._decision import Decision
from proctor.store import EscalationMode, Outcome, RunState


@dataclass(frozen=True, slots=True)
class RunTool:
    """The call runs."""


@dataclass(frozen=True, slots=True)
class AskApproval:
    """The call waits for approval: a person's, or the checker's at once."""


@dataclass(frozen=True, slots=True)
class RecordDraft:
    """The run is draft-only: the write is recorded for a person to review, not run."""


@dataclass(frozen=True, slots=True)
class ReturnToModel:
    """The denial (or the tool's error) is the call's result; the model goes on."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Escalate:
    """The run escalates: handed off to a person, or its writes become drafts from now on."""

    mode: EscalationMode
    end: bool
    """The run ends here (a handoff, or nothing left the model could answer)."""

    @property
    def outcome(self) -> Outcome:
        """The run's outcome, if it ends here."""
        return "escalated" if self.mode == "handoff" else "draft_only"


@dataclass(frozen=True, kw_only=True, slots=True)
class StopAtCeiling:
    """A ceiling was reached: the run ends, escalated per the contract or failed."""

    mode: EscalationMode | None
    """``None``: no escalation for ceilings, so the run fails."""
    draft: bool = False
    """The call that reached it is a write, recorded as a draft (mode ``draft_only``)."""

    @property
    def outcome(self) -> Outcome:
        """The run's outcome."""
        if self.mode is None:
            return "failed"
        return "escalated" if self.mode == "handoff" else "draft_only"


@dataclass(frozen=True, slots=True)
class FailRun:
    """The run ends failed: nothing escalates it and nothing can go on."""


Consequence = (
    RunTool | AskApproval | RecordDraft | ReturnToModel | Escalate | StopAtCeiling | FailRun
)

_RUN = RunTool()
_ASK = AskApproval()
_DRAFT = RecordDraft()
_RETURN = ReturnToModel()
_FAIL = FailRun()


def consequence(
    decision: Decision,
    contract: Contract,
    state: RunState,
    *,
    call: bool = True,
    write: bool = False,
) -> Consequence:
    """What ``decision`` leads to in a run under ``contract``, now at ``state``.

    ``call``: the decision is about a proposed call, so a denial can go back to the model
    as its result (``False``: the model failed or the run is ending; nothing can).
    ``write``: that call's tool writes.
    """
    if decision.kind != "deny":
        if write and state.draft_only:
            return _DRAFT
        return _ASK if decision.kind == "require_approval" else _RUN
    trigger = decision.trigger
    if trigger is None:  # e.g. invalid arguments: the model gets the error
        return _RETURN
    if decision.on_violation is not None:  # the rule names its own consequence
        return _violation(decision.on_violation, state, call=call)
    mode = contract.escalation.mode_for(trigger)
    if trigger == "budget_exceeded":  # a ceiling is a hard stop
        return StopAtCeiling(mode=mode, draft=write and mode == "draft_only")
    if not call:
        return _FAIL if mode is None else Escalate(mode=mode, end=True)
    if mode is None or (mode == "draft_only" and state.draft_only):
        return _RETURN
    return Escalate(mode=mode, end=mode == "handoff")


def _violation(violation: Violation, state: RunState, *, call: bool) -> Consequence:
    """What a rule's ``on_violation`` leads to."""
    if violation == "fail":
        return _FAIL
    if violation == "handoff":
        return Escalate(mode="handoff", end=True)
    if violation == "draft_only":
        if call and state.draft_only:
            return _RETURN
        return Escalate(mode="draft_only", end=not call)
    # deny_and_continue (and require_approval, which policy turns into a request): the
    # call is refused and the model told why; the user's task goes on.
    return _RETURN
