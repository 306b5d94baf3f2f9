"""Decisions are values: a kind, the rule that made it, and a reason a person can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from proctor.contracts import Violation
from proctor.store import DecisionKind, EscalationTrigger
from proctor.tools import Tool

RuleId = Literal[
    "default.allow",
    "default.deny",
    "registry.unregistered_tool",
    "schema.invalid_arguments",
    "contract.forbidden_tool",
    "contract.not_allowed",
    "contract.required_steps",
    "limit.max_tool_calls",
    "limit.max_model_calls",
    "limit.max_runtime_seconds",
    "limit.max_tokens",
    "limit.max_cost_usd",
    "approval.granted",
    "approval.denied",
    "approval.expired",
    "credential.denied",
    "escalation.on_tool_error",
    "escalation.on_model_error",
]
"""Every fixed rule id a decision is recorded under, a closed set. Two more kinds are named
after the contract: ``ordering.<id or tool>`` (an ordering rule), ``rule.<id>`` (a deny
rule, or an allow rule's failing condition; ``rule.<kind>.<tool>.<n>`` without an id),
``final.<id or n>`` (a check on the final answer), and an approval rule's
``ApprovalRule.rule_id``, ``approval.<id or tool>``."""

RULE_IDS: frozenset[str] = frozenset(get_args(RuleId))

INVALID_ARGUMENTS: RuleId = "schema.invalid_arguments"


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The outcome of checking one proposed action against the contract.

    ``rule`` is a ``RuleId`` or one of the contract's per-tool ids; what the decision
    leads to is ``consequence``'s answer.
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
    on_violation: Violation | None = None
    """The rule's own consequence (``deny_and_continue``, ``handoff``, ...); ``None``: the
    contract's escalation rules decide."""

    @property
    def allowed(self) -> bool:
        return self.kind == "allow"

    @property
    def invalid_arguments(self) -> bool:
        """The call's arguments did not fit its tool's schema: the model's mistake, which
        it may correct, rather than a refusal."""
        return self.rule == INVALID_ARGUMENTS


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
