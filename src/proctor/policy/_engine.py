"""``Policy``: a contract compiled once, deciding every proposed call at the tool boundary."""

from __future__ import annotations

import time
from typing import Any

from proctor.contracts import (
    FINAL_ROOTS,
    SCOPE_ROOTS,
    ApprovalRule,
    CompiledCondition,
    ConditionError,
    Contract,
    OrderingRule,
    compile_condition,
)
from proctor.policy._chains import Chain
from proctor.policy._conditions import Conditions, Session
from proctor.policy._decision import Decision, ProposedCall
from proctor.policy._facts import RunFacts
from proctor.policy._native import Doubt
from proctor.policy._ordering import ordering_problem
from proctor.policy._plan import APPROVAL, DEFAULT_DENY, NamedRule, Plan, only
from proctor.store import RunState
from proctor.tools import Registry

ALLOW = Decision(kind="allow", rule="default.allow", reason="allowed by the contract")


class Policy:
    """Decides proposed tool calls, model calls and final answers under one contract.

    Rules are checked in a fixed order, first match wins: unregistered tool, invalid
    arguments, forbidden tool, allow list, ceilings, ordering, deny rules, ``default:
    deny`` without a matching allow rule, approval; otherwise allow. Conditions read the
    call, the run's state and its ``RunFacts`` (provenance, earlier calls, scopes).
    """

    def __init__(self, contract: Contract, registry: Registry) -> None:
        self.contract = contract
        self.registry = registry
        self._forbidden = frozenset(contract.forbidden_tools)
        self._allowed = (
            None if contract.allowed_tools is None else frozenset(contract.allowed_tools)
        )
        self._ordering: dict[str, list[OrderingRule]] = {}
        for ordering in contract.ordering:
            self._ordering.setdefault(ordering.tool, []).append(ordering)
        self._ordering_of: dict[str, tuple[OrderingRule, ...]] = {}
        self._approvals: dict[str, list[tuple[ApprovalRule, CompiledCondition | None]]] = {}
        for rule in contract.approvals:
            condition = None if rule.when is None else compile_condition(rule.when)
            self._approvals.setdefault(rule.tool, []).append((rule, condition))
        self._deny: dict[str, list[tuple[NamedRule, CompiledCondition | None]]] = {}
        self._allow: dict[str, list[tuple[NamedRule, CompiledCondition | None]]] = {}
        for index, conditional in enumerate(contract.rules):
            named = NamedRule(rule=conditional, id=conditional.rule_id(index))
            when = conditional.when
            entry = (named, None if when is None else compile_condition(when))
            into = self._deny if conditional.kind == "deny" else self._allow
            for tool in conditional.tools:
                into.setdefault(tool, []).append(entry)
        self._plans: dict[str, Plan] = {}
        self._final = [
            (check, check.rule_id(index), compile_condition(check.when, FINAL_ROOTS))
            for index, check in enumerate(contract.final)
        ]
        self._scopes = {
            name: compile_condition(expr, SCOPE_ROOTS) for name, expr in contract.scopes.items()
        }
        used = _functions_used(contract)
        self._conditions = Conditions(used)
        self._tracks_values = bool(used & PROVENANCE_FUNCTIONS)
        self._needs_facts = _needs_facts(contract, used)
        self._blank = self.new_facts()

    @property
    def tracks_values(self) -> bool:
        """Some condition asks where values came from (so runs index what they read)."""
        return self._tracks_values

    def new_facts(self, *, key: bytes | None = None) -> RunFacts:
        """Empty facts for a new (or resumed) run: fold its events into them. ``key``
        fingerprints the values redaction keeps out of the record (``values_seen``)."""
        return RunFacts.for_contract(
            self.contract,
            self._scopes,
            self._scope_value,
            track_values=self._tracks_values,
            active=self._needs_facts,
            key=key,
        )

    def decide(
        self,
        call: ProposedCall,
        state: RunState,
        *,
        now: float | None = None,
        facts: RunFacts | None = None,
    ) -> Decision:
        """Decide one proposed tool call; ``state`` (and ``facts``) already count this
        proposal."""
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
        facts = self._blank if facts is None else facts
        now = time.time() if now is None else now
        ceiling = self.check_limits(state, now=now, tool_calls=True, facts=facts)
        if ceiling is not None:
            return ceiling
        ordering = self._check_ordering(call, state, facts)
        if ordering is not None:
            return ordering
        plan = self._plan(call.name)
        if plan.empty:
            return ALLOW
        if plan.native is not None:
            # Plain tests of the arguments, decided in Python (CEL decides if in doubt).
            try:
                code = plan.native(call.arguments)
            except Doubt:
                pass
            else:
                if code != DEFAULT_DENY:  # a default denial explains itself: below
                    return self._coded(call, plan, code)
        variables = _variables(plan.roots, call, state, facts, now)
        session = self._conditions.session(facts, now, variables, functions=plan.functions)
        if plan.fast is not None:
            # The tool's rules as one program, its fixed-argument calls made first: one
            # conversion of the variables for CEL per decision (of the fields it reads).
            try:
                code = session.precomputed(plan.fast)
            except ConditionError:
                pass  # each chain on its own finds the rule that failed
            else:
                return self._decoded(call, plan, session, code)
        # The chains convert whole roots for CEL: only the fields their conditions name.
        if "args" in variables:
            variables["args"] = only(variables["args"], plan.args_fields)
        if "input" in variables:
            variables["input"] = only(variables["input"], plan.input_fields)
        if "scopes" in variables:
            variables["scopes"] = only(variables["scopes"], plan.scope_fields)
        denied = plan.deny.first(session)
        if denied is not None:
            return _denial(denied.item, denied.error, call.name)
        if plan.default_deny and plan.allow.first(session, errors_match=False) is None:
            return self._default_deny(call, plan, session)
        approval = plan.approvals.first(session)
        if approval is not None:
            return _approval(approval.item, approval.error, call.name)
        return ALLOW

    def check_answer(
        self, text: str, state: RunState, *, facts: RunFacts, now: float | None = None
    ) -> Decision | None:
        """Why the final answer ``text`` may not stand (a ``final:`` check holds), or ``None``."""
        if not self._final:
            return None
        now = time.time() if now is None else now
        roots = frozenset(root for _, _, condition in self._final for root in condition.roots)
        functions = any(condition.functions for _, _, condition in self._final)
        variables = _variables(roots, None, state, facts, now, text=text)
        session = self._conditions.session(facts, now, variables, functions=functions)
        for check, rule_id, condition in self._final:
            reason = check.reason or f"the answer meets {check.when!r}"
            try:
                matched = session.holds(condition)
            except ConditionError as exc:
                matched, reason = True, f"{reason} (could not be evaluated: {exc})"
            if matched:
                return Decision(
                    kind="deny",
                    rule=rule_id,
                    reason=reason,
                    trigger="policy_violation",
                    on_violation=check.on_violation,
                )
        return None

    def check_limits(
        self,
        state: RunState,
        *,
        now: float | None = None,
        tool_calls: bool = False,
        facts: RunFacts | None = None,
    ) -> Decision | None:
        """The first ceiling the run has gone over, or ``None``.

        Before a model call, ``max_model_calls`` counts the call about to be made, so a
        ceiling that is merely reached stops the run there. With ``on_limit:
        require_approval``, a call past ``max_tool_calls`` waits for a person instead;
        each approval raised the ceiling by its own size.
        """
        limits = self.contract.limits
        # Each ceiling compared in turn, in a fixed order (the call count, runtime, tokens,
        # cost): no list of checks is built, and runtime is computed only when reached.
        if tool_calls:
            calls = state.tool_calls
            ceiling: float = limits.max_tool_calls
            if limits.on_limit == "require_approval":
                raises = 0 if facts is None else facts.limit_raises
                ceiling *= 1 + raises
                if calls > ceiling:
                    return Decision(
                        kind="require_approval",
                        rule="limit.max_tool_calls",
                        reason=f"the run has made {ceiling:g} tool calls, its ceiling "
                        f"(max_tool_calls); approving lets it make {limits.max_tool_calls} more",
                        limit="max_tool_calls",
                        value=calls,
                        ceiling=ceiling,
                    )
            if calls > ceiling:
                return _over_limit("max_tool_calls", calls, ceiling)
        elif state.model_calls + 1 > limits.max_model_calls:
            return _over_limit("max_model_calls", state.model_calls + 1, limits.max_model_calls)
        runtime = state.active_seconds(time.time() if now is None else now)
        if runtime > limits.max_runtime_seconds:
            return _over_limit("max_runtime_seconds", runtime, limits.max_runtime_seconds)
        tokens = state.input_tokens + state.output_tokens
        if tokens > limits.max_tokens:
            return _over_limit("max_tokens", tokens, limits.max_tokens)
        if limits.max_cost_usd is not None and state.cost_usd > limits.max_cost_usd:
            return _over_limit("max_cost_usd", state.cost_usd, limits.max_cost_usd)
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

    def _check_ordering(
        self, call: ProposedCall, state: RunState, facts: RunFacts
    ) -> Decision | None:
        rules = self._ordering_of.get(call.name)
        if rules is None:
            rules = self._ordering_of[call.name] = (
                *self._ordering.get(call.name, ()),
                *self._ordering.get("*", ()),
            )
        for rule in rules:
            problem = ordering_problem(rule, call, state, facts)
            if problem is not None:
                return Decision(
                    kind="require_approval" if rule.on_violation == "require_approval" else "deny",
                    rule=rule.rule_id,
                    reason=problem,
                    trigger="policy_violation",
                    on_violation=rule.on_violation,
                )
        return None

    def _decoded(self, call: ProposedCall, plan: Plan, session: Session, code: Any) -> Decision:
        """The decision ``plan.fast`` gave as a code (``one_program``)."""
        if code == DEFAULT_DENY:
            return self._default_deny(call, plan, session)
        return self._coded(call, plan, code)

    def _coded(self, call: ProposedCall, plan: Plan, code: Any) -> Decision:
        """The decision a code of ``one_program`` other than ``DEFAULT_DENY`` stands for."""
        if not isinstance(code, int) or code < 0:
            return ALLOW
        if code < DEFAULT_DENY:
            return _denial(plan.deny.items[code][0], None, call.name)
        return _approval(plan.approvals.items[code - APPROVAL][0], None, call.name)

    def _default_deny(self, call: ProposedCall, plan: Plan, session: Session) -> Decision:
        problems = [
            f"{named.id}: " + (f"could not be evaluated: {error}" if error else "does not hold")
            for named, error in plan.allow.failures(session)
        ]
        why = "; ".join(problems) if problems else "no allow rule names it"
        violation = self.contract.on_violation
        return Decision(
            kind="require_approval" if violation == "require_approval" else "deny",
            rule="default.deny",
            reason=f"{call.name} is not allowed by the contract (default: deny): {why}",
            trigger="policy_violation",
            on_violation=violation,
        )

    def _plan(self, tool: str) -> Plan:
        plan = self._plans.get(tool)
        if plan is None:
            plan = self._plans[tool] = Plan(
                deny=Chain.of([*self._deny.get(tool, ()), *self._deny.get("*", ())]),
                allow=Chain.of([*self._allow.get(tool, ()), *self._allow.get("*", ())]),
                approvals=Chain.of(self._approvals.get(tool, ())),
                default_deny=self.contract.default == "deny",
            )
        return plan

    def _scope_value(self, program: CompiledCondition, run_input: dict[str, Any]) -> Any:
        session = self._conditions.session(
            self._blank, time.time(), {"input": run_input}, functions=bool(program.functions)
        )
        return session.value(program)


def _denial(named: NamedRule, error: ConditionError | None, tool: str) -> Decision:
    rule = named.rule
    if error is not None:  # fail closed: a denial that cannot be evaluated denies
        reason = rule.reason or f"{tool} is denied by rule {named.id}"
        reason = f"{reason} (condition {rule.when!r} could not be evaluated: {error})"
    elif rule.when is None:
        reason = rule.reason or f"{tool} is denied by rule {named.id}"
    else:
        reason = rule.reason or f"{tool}: {rule.when} ({named.id})"
    return Decision(
        kind="require_approval" if rule.on_violation == "require_approval" else "deny",
        rule=named.id,
        reason=reason,
        trigger="policy_violation",
        on_violation=rule.on_violation,
    )


def _approval(rule: ApprovalRule, error: ConditionError | None, tool: str) -> Decision:
    reason = rule.reason or f"{tool} needs approval"
    if error is not None:
        # Fail closed: a condition that cannot be evaluated sends the call to a person.
        reason = f"{reason} (condition {rule.when!r} could not be evaluated: {error})"
    elif rule.when is not None:
        reason = f"{reason} ({rule.when})"
    return Decision(kind="require_approval", rule=rule.rule_id, reason=reason)


def _variables(
    roots: frozenset[str],
    call: ProposedCall | None,
    state: RunState,
    facts: RunFacts,
    now: float,
    *,
    text: str | None = None,
) -> dict[str, Any]:
    """The variables conditions read, each converted only if one of them reads it."""
    out: dict[str, Any] = {}
    for root in roots:
        if root == "args":
            out["args"] = {} if call is None else call.arguments
        elif root == "input":
            out["input"] = state.input
        elif root == "state":
            out["state"] = _cel_state(state, now)
        elif root == "calls":
            out["calls"] = facts.cel_calls()
        elif root == "scopes":
            # A scope that failed at run start is absent: reading it fails closed.
            out["scopes"] = facts.scopes
        elif root == "tool":
            out["tool"] = "" if call is None else call.name
        elif root == "text":
            out["text"] = text or ""
    return out


PROVENANCE_FUNCTIONS = frozenset({"origin", "trusted", "untrusted", "from_input", "from_tool"})


def _needs_facts(contract: Contract, used: frozenset[str]) -> bool:
    """Whether decisions under ``contract`` read anything ``RunFacts`` folds: history,
    scopes, provenance, or ceilings a person raised."""
    history = any(o.same or o.at_most or o.not_after for o in contract.ordering)
    conditions = [*(r.when for r in contract.approvals), *(r.when for r in contract.rules)]
    roots = {root for when in conditions if when for root in compile_condition(when).roots}
    return bool(
        used
        or history
        or contract.scopes
        or contract.final
        or contract.limits.on_limit != "stop"
        or roots & {"calls", "scopes"}
    )


def _functions_used(contract: Contract) -> frozenset[str]:
    """Proctor's functions the contract's conditions call (only these are registered)."""
    calls = [*(rule.when for rule in contract.approvals), *(rule.when for rule in contract.rules)]
    used = [compile_condition(when).functions for when in calls if when is not None]
    used += [compile_condition(check.when, FINAL_ROOTS).functions for check in contract.final]
    used += [compile_condition(expr, SCOPE_ROOTS).functions for expr in contract.scopes.values()]
    return frozenset().union(*used)


def _cel_state(state: RunState, now: float | None) -> dict[str, Any]:
    return {
        "tool_calls": state.tool_calls,
        "model_calls": state.model_calls,
        "tokens": state.tokens,
        "cost_usd": state.cost_usd,
        "elapsed_s": state.active_seconds(time.time() if now is None else now),
        "succeeded": sorted(state.succeeded),
    }


def _over_limit(name: str, value: float, ceiling: float) -> Decision:
    return Decision(
        kind="deny",
        rule=f"limit.{name}",
        reason=_limit_reason(name, value, ceiling),
        trigger="budget_exceeded",
        limit=name,
        value=round(value, 6),
        ceiling=ceiling,
    )


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
