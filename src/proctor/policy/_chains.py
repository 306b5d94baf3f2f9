"""Conditional rules checked in order, as one CEL program per tool.

A contract's deny rules (or approval rules, or allow rules) for one tool form a chain:
the first rule whose condition holds wins. Running each condition on its own costs a CEL
context each (converting the call's arguments, ~5-15 µs); the chain compiles them into one
program, ``c0 ? 0 : c1 ? 1 : ... : -1``, run once per decision. If that program cannot
be evaluated (a condition reads a missing key), the rules are run one by one to find
which one failed, so each rule fails closed on its own, exactly as if run alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from proctor.contracts import CALL_ROOTS, CompiledCondition, ConditionError, compile_condition
from proctor.policy._conditions import Session

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    """The rule a chain stopped at; ``error``: its condition could not be evaluated."""

    item: T
    error: ConditionError | None = None


@dataclass(frozen=True, slots=True)
class Chain(Generic[T]):
    """Rules (``T``) with their conditions (``None``: always), in the order they apply."""

    items: tuple[tuple[T, CompiledCondition | None], ...]
    program: CompiledCondition | None
    """All conditions as one program (``None``: no rule, or the first always applies)."""

    @classmethod
    def of(cls, items: Sequence[tuple[T, CompiledCondition | None]]) -> Chain[T]:
        items = tuple(items)
        program = None
        if items and items[0][1] is not None:
            branches: list[str] = []
            for index, (_, condition) in enumerate(items):
                if condition is None:
                    branches.append(f"{index}")
                    break
                branches.append(f"({condition.source}) ? {index}")
            else:
                branches.append("-1")
            program = compile_condition(" : ".join(branches), CALL_ROOTS)
        return cls(items=items, program=program)

    @property
    def roots(self) -> frozenset[str]:
        return frozenset() if self.program is None else self.program.roots

    @property
    def functions(self) -> bool:
        return self.program is not None and bool(self.program.functions)

    def first(self, session: Session, *, errors_match: bool = True) -> Hit[T] | None:
        """The first rule whose condition holds (or, with ``errors_match``, cannot be
        evaluated), or ``None``."""
        if not self.items:
            return None
        if self.program is None:
            return Hit(self.items[0][0])
        try:
            index = session.value(self.program)
        except ConditionError:
            return self._one_by_one(session, errors_match)
        if not isinstance(index, int) or index < 0:
            return None
        return Hit(self.items[index][0])

    def failures(self, session: Session) -> list[tuple[T, ConditionError | None]]:
        """Each rule whose condition does not hold, with the error if it failed."""
        out: list[tuple[T, ConditionError | None]] = []
        for item, condition in self.items:
            if condition is None:
                continue
            try:
                if not session.holds(condition):
                    out.append((item, None))
            except ConditionError as exc:
                out.append((item, exc))
        return out

    def _one_by_one(self, session: Session, errors_match: bool) -> Hit[T] | None:
        for item, condition in self.items:
            if condition is None:
                return Hit(item)
            try:
                if session.holds(condition):
                    return Hit(item)
            except ConditionError as exc:
                if errors_match:
                    return Hit(item, exc)
        return None
