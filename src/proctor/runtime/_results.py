"""What a step of the loop returns: a small value the driver matches on and routes.

The values are made and consumed once per step, so they are plain slotted dataclasses
(a frozen one costs three times as much to build, on the loop's hot path).

A step records what it did (or seals it, to be written with what it leads to) and says
what comes next; it never calls the driver or another step's routing. ``Next``: the
driver picks the next step from the run's state, as on resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proctor.policy import Decision
from proctor.store import ApprovalRecord, CallState, Outcome, ToolFinished


@dataclass(slots=True)
class Next:
    """Done; the next step follows from the run's state."""


@dataclass(kw_only=True, slots=True)
class Decided:
    """A decision about a call, to record (unless ``recorded``) and follow."""

    call: CallState
    decision: Decision
    arguments: dict[str, Any] | None = None
    """The call's arguments as its tool's schema validated them (to run it with)."""
    finished: ToolFinished | None = None
    """The tool ran and refused the call (its credential did not cover it): its failure,
    recorded right after the decision."""


@dataclass(slots=True)
class Allowed:
    """An allowed call whose tool is to run (again, if the process died while it ran)."""

    call: CallState
    arguments: dict[str, Any] | None = None
    """Validated already (else ``run_tool`` validates them)."""


@dataclass(kw_only=True, slots=True)
class Ran:
    """A call's tool ran, or was not run again: its result, not yet sealed."""

    call: CallState
    finished: ToolFinished


@dataclass(kw_only=True, slots=True)
class Ask:
    """A call needs approval that was never requested (the process died first)."""

    call: CallState
    decision: Decision


@dataclass(kw_only=True, slots=True)
class Consult:
    """The checker is to decide a call's pending approval now."""

    call: CallState
    approval: ApprovalRecord | None = None
    """The approvals row, when the step that asked holds it."""


@dataclass(slots=True)
class Attend:
    """A call's approval moved on: continue the call from what the log holds."""

    call_id: str


@dataclass(slots=True)
class Denied:
    """The run may not go on as it is (a ceiling, the model failing, required steps
    missing): there is no call to answer, so the run stops or escalates."""

    decision: Decision


@dataclass(kw_only=True, slots=True)
class Ended:
    """The run ends here with ``outcome``."""

    outcome: Outcome
    reason: str


@dataclass(slots=True)
class Waiting:
    """The run waits for a person's decision."""


Step = Next | Decided | Allowed | Ran | Ask | Consult | Attend | Denied | Ended | Waiting

NEXT = Next()
WAITING = Waiting()
