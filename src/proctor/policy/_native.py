"""A tool's rules decided in Python when each condition is a plain test of one argument.

Most approval and deny conditions compare one argument with a literal
(``args.amount > 1000``, ``args.to.endsWith('@corp.example')``). Handing such a rule
chain to CEL costs 1-4 µs a decision (its string methods ~0.7 µs each); the same tests in
Python cost a tenth of that. Only the shapes below are taken, and only for values whose
answer is certain to be CEL's; anything else (a missing argument, a bool where a number
is compared, an integer past 2**53, NaN) raises ``Doubt`` and CEL decides as before, so
every error still fails closed exactly as it did.

- ``args.F OP N`` with ``OP`` one of ``== != > >= < <=`` and ``N`` an integer or decimal
  literal: ints and floats compare as numbers (CEL's numeric comparison);
- ``args.F == 'S'`` and ``args.F != 'S'`` (a string literal without escapes);
- ``args.F.startsWith('S')``, ``.endsWith('S')``, ``.contains('S')`` on a string.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]
Decide = Callable[[dict[str, Any]], int]

EXACT = 2**53
"""Integers within this magnitude convert to a double exactly, as CEL compares them."""

_FIELD = r"args\s*\.\s*([A-Za-z_]\w*)"
_STRING = r"""(?:'([^'\\\n]*)'|"([^"\\\n]*)")"""
_NUMBER = r"(-?(?:0|[1-9]\d*)(?:\.\d+)?)"
_COMPARE_NUMBER = re.compile(rf"^\s*{_FIELD}\s*(==|!=|>=|<=|>|<)\s*{_NUMBER}\s*$")
_COMPARE_STRING = re.compile(rf"^\s*{_FIELD}\s*(==|!=)\s*{_STRING}\s*$")
_METHOD = re.compile(
    rf"^\s*{_FIELD}\s*\.\s*(startsWith|endsWith|contains)\s*\(\s*{_STRING}\s*\)\s*$"
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Doubt(Exception):
    """The Python test cannot be sure of CEL's answer: CEL decides."""


def _always(args: dict[str, Any]) -> bool:
    return True


def predicate(source: str | None) -> Predicate | None:
    """``source`` as a Python test of the call's arguments, or ``None`` if it is not one
    of the plain shapes (``None``, no condition: always holds)."""
    if source is None:
        return _always
    match = _COMPARE_NUMBER.match(source)
    if match is not None:
        field, op, text = match.groups()
        literal = float(text) if "." in text else int(text)
        if isinstance(literal, int) and abs(literal) > EXACT:
            return None
        return _number_test(field, _OPS[op], literal)
    match = _COMPARE_STRING.match(source)
    if match is not None:
        field, op, single, double = match.groups()
        return _string_test(field, _OPS[op], single if single is not None else double)
    match = _METHOD.match(source)
    if match is not None:
        field, method, single, double = match.groups()
        return _method_test(field, method, single if single is not None else double)
    return None


def _number_test(field: str, op: Callable[[Any, Any], bool], literal: float) -> Predicate:
    def holds(args: dict[str, Any]) -> bool:
        value: Any = args.get(field)
        kind = type(value)
        if kind is int:
            if not -EXACT <= value <= EXACT:
                raise Doubt
        elif kind is not float or value != value:  # not a number (a bool, text), or NaN
            raise Doubt
        return op(value, literal)

    return holds


def _string_test(field: str, op: Callable[[Any, Any], bool], literal: str) -> Predicate:
    def holds(args: dict[str, Any]) -> bool:
        value = args.get(field)
        if type(value) is not str:
            raise Doubt
        return op(value, literal)

    return holds


def _method_test(field: str, method: str, literal: str) -> Predicate:
    test: Callable[[str, str], bool] = {
        "startsWith": str.startswith,
        "endsWith": str.endswith,
        "contains": str.__contains__,
    }[method]

    def holds(args: dict[str, Any]) -> bool:
        value = args.get(field)
        if type(value) is not str:
            raise Doubt
        return test(value, literal)

    return holds


def native_chain(
    deny: Sequence[str | None],
    allow: Sequence[str | None] | None,
    approvals: Sequence[str | None],
    *,
    default_deny: int,
    approval: int,
) -> Decide | None:
    """The rule chain of ``plan.one_program`` in Python (the same codes: the index of the
    deny rule that holds; ``default_deny`` if no allow rule holds, when ``allow`` is given;
    ``approval`` plus the index of the approval rule that holds; else -1), or ``None`` if a
    condition is not a plain test. The returned function raises ``Doubt`` when CEL must
    decide."""
    tests = [predicate(source) for source in (*deny, *(allow or ()), *approvals)]
    if any(test is None for test in tests):
        return None
    checked: list[Predicate] = [test for test in tests if test is not None]
    denies = checked[: len(deny)]
    allows = None if allow is None else checked[len(deny) : len(deny) + len(allow)]
    holds = checked[len(checked) - len(approvals) :]

    def decide(args: dict[str, Any]) -> int:
        for index, test in enumerate(denies):
            if test(args):
                return index
        if allows is not None and not any(test(args) for test in allows):
            return default_deny
        for index, test in enumerate(holds):
            if test(args):
                return approval + index
        return -1

    return decide
