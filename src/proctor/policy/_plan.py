"""The rules that apply to one tool, compiled once: its deny, allow and approval chains,
and the same as one program (with fixed-argument calls made before CEL: ``_precompute``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from proctor.contracts import ApprovalRule, CompiledCondition, Rule, compile_condition
from proctor.policy._chains import Chain
from proctor.policy._native import Decide, native_chain
from proctor.policy._precompute import as_is, precompute


@dataclass(frozen=True, slots=True)
class NamedRule:
    """A deny or allow rule with its id."""

    rule: Rule
    id: str


class Plan:
    """The rule chains that apply to one tool, compiled once, and what they read."""

    def __init__(
        self,
        *,
        deny: Chain[NamedRule],
        allow: Chain[NamedRule],
        approvals: Chain[ApprovalRule],
        default_deny: bool,
    ) -> None:
        self.deny, self.allow, self.approvals = deny, allow, approvals
        self.default_deny = default_deny
        chains = (deny, allow, approvals)
        self.empty = not (deny.items or approvals.items or default_deny)
        self.roots = frozenset(root for chain in chains for root in chain.roots)
        self.functions = any(chain.functions for chain in chains)
        sources = [chain.program.source for chain in chains if chain.program is not None]
        # Converting a value for CEL costs time per field (~4 µs a string): pass only
        # the fields of the arguments and input that the conditions name.
        self.args_fields = fields_read(sources, "args")
        self.input_fields = fields_read(sources, "input")
        self.scope_fields = fields_read(sources, "scopes")
        program = one_program(self)
        self.fast = None if program is None else precompute(program) or as_is(program)
        self.native: Decide | None = None
        """The chain in Python when every condition is a plain test of one argument."""
        if program is not None:
            self.native = native_chain(
                _sources(deny),
                _sources(allow) if default_deny else None,
                _sources(approvals),
                default_deny=DEFAULT_DENY,
                approval=APPROVAL,
            )


def _sources(chain: Chain[Any]) -> list[str | None]:
    return [None if condition is None else condition.source for _, condition in chain.items]


DEFAULT_DENY = 10_000
APPROVAL = 20_000


def one_program(plan: Plan) -> CompiledCondition | None:
    """The tool's chains as one program: the index of the deny rule that holds, else
    ``DEFAULT_DENY`` if no allow rule does (under ``default: deny``), else ``APPROVAL``
    plus the index of the approval rule that holds, else -1. An error anywhere makes the
    chains run on their own, so each rule fails closed exactly as it would alone."""
    if plan.empty:
        return None
    branches: list[str] = []
    for index, (_, condition) in enumerate(plan.deny.items):
        if condition is None:
            return compile_condition(" : ".join([*branches, str(index)]))
        branches.append(f"({condition.source}) ? {index}")
    if plan.default_deny:
        allowed = [
            "true" if condition is None else f"({condition.source})"
            for _, condition in plan.allow.items
        ]
        branches.append(f"!({' || '.join(allowed) or 'false'}) ? {DEFAULT_DENY}")
    for index, (_, condition) in enumerate(plan.approvals.items):
        if condition is None:
            return compile_condition(" : ".join([*branches, str(APPROVAL + index)]))
        branches.append(f"({condition.source}) ? {APPROVAL + index}")
    return compile_condition(" : ".join([*branches, "-1"]))


def fields_read(sources: list[str], root: str) -> frozenset[str] | None:
    """The fields of ``root`` the expressions read (``None``: they use it whole)."""
    fields: set[str] = set()
    for source in sources:
        for match in re.finditer(rf"(?<![\w.]){root}\b(\s*\.\s*([A-Za-z_]\w*))?", source):
            if match.group(2) is None:
                return None
            fields.add(match.group(2))
    return frozenset(fields)


def only(value: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    if fields is None:
        return value
    return {key: value[key] for key in fields if key in value}
