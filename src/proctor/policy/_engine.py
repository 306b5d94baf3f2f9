"""``Policy``: a contract compiled once, deciding every proposed call at the tool boundary."""

from __future__ import annotations

import time
from typing import Any

from proctor.contracts import (
    ApprovalRule,
    CompiledCondition,
    ConditionError,
    Contract,
    compile_condition,
)
from proctor.policy._decision import Decision, ProposedCall
from proctor.store import RunState
from proctor.tools import Registry

ALLOW = Decision(kind="allow", rule="default.allow", reason="allowed by the contract")


class Policy:
    """Decides proposed tool calls and model calls for runs under one contract.

    Rules are checked in a fixed order, first match wins: unregistered tool, invalid
    arguments, forbidden tool, allow list, ceilings, ordering, approval; otherwise allow.
    """

    def __init__(self, contract: Contract, registry: Registry) -> None:
        self.contract = contract
        self.registry = registry
        self._forbidden = frozenset(contract.forbidden_tools)
        self._allowed = (
            None if contract.allowed_tools is None else frozenset(contract.allowed_tools)
        )
        self._after: dict[str, list[str]] = {}
        for ordering in contract.ordering:
            self._after.setdefault(ordering.tool, []).extend(ordering.after)
        self._approvals: dict[str, list[tuple[ApprovalRule, CompiledCondition | None]]] = {}
        for rule in contract.approvals:
            condition = None if rule.when is None else compile_condition(rule.when)
            self._approvals.setdefault(rule.tool, []).append((rule, condition))

    def decide(self, call: ProposedCall, state: RunState, *, now: float | None = None) -> Decision:
        """Decide one proposed tool call; ``state`` already counts this proposal."""
        if call.tool is None:
            return Decision(
                kind="deny",
                rule="registry.unregistered_tool",
                reason=f"there is no tool named {call.name!r}; callable tools: "
                + ", ".join(self.registry.names),
            )
        if call.invalid is not None:
            return Decision(kind="deny", rule="schema.invalid_arguments", reason=call.invalid)
        if call.name in self._forbidden:
            return Decision(
                kind="deny",
                rule="contract.forbidden_tool",
                reason=f"{call.name} is forbidden by the {self.contract.workflow} contract",
                trigger="policy_violation",
            )
        if self._allowed is not None and call.name not in self._allowed:
            return Decision(
                kind="deny",
                rule="contract.not_allowed",
                reason=f"{call.name} is not in the contract's allowed_tools",
                trigger="policy_violation",
            )
        ceiling = self.check_limits(state, now=now, tool_calls=True)
        if ceiling is not None:
            return ceiling
        missing = [step for step in self._after.get(call.name, ()) if not state.succeeded[step]]
        if missing:
            return Decision(
                kind="deny",
                rule=f"ordering.{call.name}",
                reason=f"{call.name} requires {', '.join(missing)} to succeed earlier in the run",
                trigger="policy_violation",
            )
        for rule, condition in self._approvals.get(call.name, ()):
            decision = self._approval(rule, condition, call, state, now)
            if decision is not None:
                return decision
        return ALLOW

    def check_limits(
        self, state: RunState, *, now: float | None = None, tool_calls: bool = False
    ) -> Decision | None:
        """The first ceiling the run has gone over, or ``None``.

        Before a model call, ``max_model_calls`` counts the call about to be made, so a
        ceiling that is merely reached stops the run there.
        """
        limits = self.contract.limits
        now = time.time() if now is None else now
        checks: list[tuple[str, float | None, float]] = [
            ("max_runtime_seconds", limits.max_runtime_seconds, state.active_seconds(now)),
            ("max_tokens", limits.max_tokens, state.tokens),
            ("max_cost_usd", limits.max_cost_usd, state.cost_usd),
        ]
        if tool_calls:
            checks.insert(0, ("max_tool_calls", limits.max_tool_calls, state.tool_calls))
        else:
            checks.insert(0, ("max_model_calls", limits.max_model_calls, state.model_calls + 1))
        for name, ceiling, value in checks:
            if ceiling is not None and value > ceiling:
                return Decision(
                    kind="deny",
                    rule=f"limit.{name}",
                    reason=_limit_reason(name, value, ceiling),
                    trigger="budget_exceeded",
                    limit=name,
                    value=round(value, 6),
                    ceiling=ceiling,
                )
        return None

    def missing_steps(self, state: RunState) -> list[str]:
        """Required steps that have not succeeded yet."""
        return [step for step in self.contract.required_steps if not state.succeeded[step]]

    def check_finish(self, state: RunState) -> Decision | None:
        """Why the run may not end resolved now (required steps missing), or ``None``."""
        missing = self.missing_steps(state)
        if not missing:
            return None
        return Decision(
            kind="deny",
            rule="contract.required_steps",
            reason="the run cannot end resolved: required steps missing: " + ", ".join(missing),
            trigger="policy_violation",
        )

    def _approval(
        self,
        rule: ApprovalRule,
        condition: CompiledCondition | None,
        call: ProposedCall,
        state: RunState,
        now: float | None,
    ) -> Decision | None:
        reason = rule.reason or f"{call.name} needs approval"
        if condition is None:
            return Decision(kind="require_approval", rule=rule.rule_id, reason=reason)
        try:
            matched = condition.evaluate(
                call.arguments, state.input, lambda: _cel_state(state, now)
            )
        except ConditionError as exc:
            # Fail closed: a condition that cannot be evaluated sends the call to a person.
            return Decision(
                kind="require_approval",
                rule=rule.rule_id,
                reason=f"{reason} (condition {rule.when!r} could not be evaluated: {exc})",
            )
        if matched:
            return Decision(
                kind="require_approval", rule=rule.rule_id, reason=f"{reason} ({rule.when})"
            )
        return None


def _cel_state(state: RunState, now: float | None) -> dict[str, Any]:
    return {
        "tool_calls": state.tool_calls,
        "model_calls": state.model_calls,
        "tokens": state.tokens,
        "cost_usd": state.cost_usd,
        "elapsed_s": state.active_seconds(time.time() if now is None else now),
        "succeeded": sorted(state.succeeded),
    }


def _limit_reason(name: str, value: float, ceiling: float) -> str:
    labels = {
        "max_tool_calls": "tool calls",
        "max_model_calls": "model calls",
        "max_runtime_seconds": "seconds of runtime",
        "max_tokens": "tokens",
        "max_cost_usd": "USD of model spend",
    }
    shown = f"{value:.4f}" if name == "max_cost_usd" else f"{value:g}"
    return f"ceiling reached: {shown} {labels[name]} against a limit of {ceiling:g} ({name})"
