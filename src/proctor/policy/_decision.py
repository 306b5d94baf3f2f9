"""Decisions are values: a kind, the rule that made it, and a reason a person can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proctor.store import DecisionKind, EscalationTrigger
from proctor.tools import Tool


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The outcome of checking one proposed action against the contract.

    ``trigger`` says which escalation rule a denial counts against (``None``: the model
    simply gets the error back, e.g. for invalid arguments). Limit denials also carry the
    limit's name, the value reached and the ceiling.
    """

    kind: DecisionKind
    rule: str
    reason: str
    trigger: EscalationTrigger | None = None
    limit: str | None = None
    value: float | None = None
    ceiling: float | None = None

    @property
    def allowed(self) -> bool:
        return self.kind == "allow"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposedCall:
    """A tool call as the model proposed it, after schema validation.

    ``tool`` is ``None`` when no registered tool has that name; ``invalid`` holds the
    validation problems when the arguments do not match the schema.
    """

    name: str
    arguments: dict[str, Any]
    args_digest: str
    tool: Tool | None
    invalid: str | None = None
