"""Ordering rules: when a tool may run, given the calls before it."""

from __future__ import annotations

from proctor.contracts import OrderingRule
from proctor.policy._decision import ProposedCall
from proctor.policy._facts import RunFacts
from proctor.store import RunState


def ordering_problem(
    rule: OrderingRule, call: ProposedCall, state: RunState, facts: RunFacts
) -> str | None:
    """Why ``call`` breaks ``rule`` given the calls before it, or ``None``."""
    same = rule.same_field
    if same is None:
        return _by_tool(rule, call, state, facts)
    if same is not None and same not in call.arguments:
        if rule.tool == "*":
            return None  # a rule over every tool compares only the calls that name the field
        return f"{call.name} must name {same} (its ordering rule compares it between calls)"
    value = None if same is None else call.arguments[same]

    def succeeded(tool: str) -> bool:
        if same is None:
            return state.succeeded[tool] > 0
        return any(
            fact.tool == tool and fact.status == "ok" and fact.args.get(same) == value
            for fact in facts.calls.values()
        )

    def counted(tool: str) -> int:
        if same is None:
            return facts.counted(tool)
        return sum(
            1
            for fact in facts.calls.values()
            if fact.tool == tool and fact.counted and fact.args.get(same) == value
        )

    def about() -> str:
        return "" if same is None else f" for the same {same} ({value!r})"

    missing = [tool for tool in rule.after if not succeeded(tool)]
    if missing:
        return f"{call.name} requires {', '.join(missing)} to succeed earlier in the run{about()}"
    if rule.any_of and not any(succeeded(tool) for tool in rule.any_of):
        return (
            f"{call.name} requires one of {', '.join(rule.any_of)} to succeed earlier in the "
            f"run{about()}"
        )
    done = [tool for tool in rule.not_after if counted(tool)]
    if done:
        return f"{call.name} may not run after {', '.join(done)}{about()}"
    if rule.at_most is not None and counted(call.name) >= rule.at_most:
        times = "once" if rule.at_most == 1 else f"{rule.at_most} times"
        return f"{call.name} may run at most {times}{about()}, and already did"
    return None


def _by_tool(
    rule: OrderingRule, call: ProposedCall, state: RunState, facts: RunFacts
) -> str | None:
    """``ordering_problem`` for a rule without ``same``: counts by tool name only (the
    common case, checked on every call of the tool, so no closures are made)."""
    succeeded = state.succeeded
    missing = [tool for tool in rule.after if not succeeded.get(tool, 0) > 0]
    if missing:
        return f"{call.name} requires {', '.join(missing)} to succeed earlier in the run"
    if rule.any_of and not any(succeeded.get(tool, 0) > 0 for tool in rule.any_of):
        return f"{call.name} requires one of {', '.join(rule.any_of)} to succeed earlier in the run"
    done = [tool for tool in rule.not_after if facts.counted(tool)]
    if done:
        return f"{call.name} may not run after {', '.join(done)}"
    if rule.at_most is not None and facts.counted(call.name) >= rule.at_most:
        times = "once" if rule.at_most == 1 else f"{rule.at_most} times"
        return f"{call.name} may run at most {times}, and already did"
    return None
