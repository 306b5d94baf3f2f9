"""A tool's one program (``_plan.one_program``, rewritten by ``_precompute``) evaluated in
Python when it uses only CEL's plainest parts.

Once Proctor's calls are made in Python and fields are variables of their own, most of a
program is tests of those variables: ``(_f0) ? 0 : (_f2 >= 20) ? 2 : !(_f3 || args__to in
scopes__recipients) ? 10000 : -1``. CEL spends most of its time converting the variables
(about 1 µs each); the same tests in Python cost a fraction. ``compile_subset`` accepts:
literals (integers within 2**53, decimals, strings without escapes, ``true``, ``false``),
variables and ``.field`` access, ``!``, ``&&``, ``||``, ``? :``, ``== != < <= > >= in``,
``size(x)`` and ``.size()``, ``.startsWith``, ``.endsWith``, ``.contains``. Anything else
(arithmetic, other functions, ``null``, escapes) is left to CEL: it returns ``None``.

Evaluation gives CEL's answer or raises ``Doubt``: whenever a value is missing or of a
type whose answer might differ (a bool where a number is compared, mixed lists, NaN,
integers past 2**53, a map where a list is expected), CEL decides, so errors still fail
closed exactly as before.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from proctor.policy._native import EXACT, Doubt

Evaluate = Callable[[dict[str, Any]], Any]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<number>(?:0|[1-9]\d*)(?:\.\d+)?(?![\w.]))
    |(?P<string>'[^'\\\n]*'(?!')|"[^"\\\n]*"(?!"))
    |(?P<name>[A-Za-z_]\w*)(?!['"])
    |(?P<op>&&|\|\||==|!=|<=|>=|[()!<>?:.,-])
    )""",
    re.VERBOSE,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_METHODS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": str.__contains__,
}


class _Unsupported(Exception):
    """The expression uses something outside the subset."""


def compile_subset(source: str) -> Evaluate | None:
    """``source`` as a Python function of the variables, or ``None`` outside the subset."""
    tokens: list[tuple[str, str]] = []
    at = 0
    source = source.rstrip()
    while at < len(source):
        match = _TOKEN.match(source, at)
        if match is None or match.end() == at:
            return None
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        at = match.end()
    try:
        parser = _Parser(tokens)
        evaluate = parser.ternary()
        if parser.at != len(tokens):
            return None
    except (_Unsupported, RecursionError):  # deep nesting too: CEL's to evaluate
        return None

    def result(variables: dict[str, Any]) -> Any:
        value = evaluate(variables)
        # What CEL hands back converted (a list, a map, a large integer) is CEL's to give.
        kind = type(value)
        if kind is bool or kind is str:
            return value
        return _number(value)

    return result


def _number(value: Any) -> float:
    kind = type(value)
    if kind is int:
        if not -EXACT <= value <= EXACT:
            raise Doubt
    elif kind is not float or value != value:
        raise Doubt
    return value  # type: ignore[no-any-return]


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise Doubt
    return value


def _same_kind(a: Any, b: Any) -> tuple[Any, Any]:
    """``a`` and ``b`` if CEL compares them as Python does: two numbers, two strings or
    two bools."""
    ka, kb = type(a), type(b)
    if (ka is str and kb is str) or (ka is bool and kb is bool):
        return a, b
    return _number(a), _number(b)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise _Unsupported
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise _Unsupported
        self.at += 1
        return token

    def ternary(self) -> Evaluate:
        # `c0 ? v0 : c1 ? v1 : ... : rest`, as one_program writes a tool's rules, is read
        # into one list and evaluated in a loop: no nesting that grows with the rules.
        branches: list[tuple[Evaluate, Evaluate]] = []
        condition = self.either()
        while self.peek() == "?":
            self.take("?")
            value = self.ternary_value()
            self.take(":")
            branches.append((condition, value))
            condition = self.either()
        if not branches:
            return condition
        rest = condition

        def choose(v: dict[str, Any]) -> Any:
            for test, value in branches:
                if _bool(test(v)):
                    return value(v)
            return rest(v)

        return choose

    def ternary_value(self) -> Evaluate:
        """The value between `?` and `:`: itself a ternary only in parentheses here."""
        value = self.either()
        if self.peek() == "?":
            raise _Unsupported
        return value

    def either(self) -> Evaluate:
        operands = [self.both()]
        while self.peek() == "||":
            self.take()
            operands.append(self.both())
        return operands[0] if len(operands) == 1 else _any(operands)

    def both(self) -> Evaluate:
        operands = [self.relation()]
        while self.peek() == "&&":
            self.take()
            operands.append(self.relation())
        return operands[0] if len(operands) == 1 else _all(operands)

    def relation(self) -> Evaluate:
        left = self.unary()
        op = self.peek()
        if op in _COMPARE:
            self.take()
            right = self.unary()
            compare = _COMPARE[op]
            return lambda v: compare(*_same_kind(left(v), right(v)))
        if op == "in":
            self.take()
            right = self.unary()
            return lambda v: _contains(right(v), left(v))
        return left

    def unary(self) -> Evaluate:
        # As in CEL, `!` binds tighter than a relation: `!a == b` is `(!a) == b`.
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return lambda v: not _bool(inner(v))
        return self.member()

    def member(self) -> Evaluate:
        value = self.primary()
        while self.peek() == ".":
            self.take()
            kind, name = self.take()
            if kind != "name":
                raise _Unsupported
            if self.peek() != "(":
                value = _field(value, name)
                continue
            self.take("(")
            if name == "size":
                self.take(")")
                value = _size(value)
            elif name in _METHODS:
                argument = self.ternary()
                self.take(")")
                value = _method(value, _METHODS[name], argument)
            else:
                raise _Unsupported
        return value

    def primary(self) -> Evaluate:
        kind, text = self.take()
        if text == "(":
            inner = self.ternary()
            self.take(")")
            return inner
        if text == "-":
            kind, text = self.take()
            if kind != "number":
                raise _Unsupported
            text = "-" + text
        if kind == "number":
            literal: Any = float(text) if "." in text else int(text)
            if type(literal) is int and abs(literal) > EXACT:
                raise _Unsupported
            return lambda v: literal
        if kind == "string":
            string = text[1:-1]
            return lambda v: string
        if kind != "name":
            raise _Unsupported
        if text in ("true", "false"):
            truth = text == "true"
            return lambda v: truth
        if text in ("null", "in") or text.startswith("__"):
            raise _Unsupported
        if self.peek() == "(":
            if text != "size":
                raise _Unsupported  # other functions: CEL's, or Proctor's callbacks
            self.take("(")
            argument = self.ternary()
            self.take(")")
            return _size(argument)
        return _variable(text)


def _variable(name: str) -> Evaluate:
    def read(v: dict[str, Any]) -> Any:
        try:
            return v[name]
        except KeyError:
            raise Doubt from None

    return read


def _field(value: Evaluate, name: str) -> Evaluate:
    def read(v: dict[str, Any]) -> Any:
        found = value(v)
        if type(found) is not dict or name not in found:
            raise Doubt
        return found[name]

    return read


def _size(value: Evaluate) -> Evaluate:
    def size(v: dict[str, Any]) -> int:
        found = value(v)
        kind = type(found)
        # The CEL binding counts a string's UTF-8 bytes, not its code points: only an
        # ASCII string has the same size in both.
        if (kind is str and not found.isascii()) or kind not in (str, list, dict):
            raise Doubt
        return len(found)

    return size


def _method(value: Evaluate, test: Callable[[str, str], bool], argument: Evaluate) -> Evaluate:
    def call(v: dict[str, Any]) -> bool:
        found, needle = value(v), argument(v)
        if type(found) is not str or type(needle) is not str:
            raise Doubt
        return test(found, needle)

    return call


def _contains(items: Any, item: Any) -> bool:
    if type(items) is not list:
        raise Doubt
    for element in items:
        a, b = _same_kind(item, element)
        if a == b:
            return True
    return False


def _any(operands: list[Evaluate]) -> Evaluate:
    def either(v: dict[str, Any]) -> bool:  # left to right, stopping at the first true
        return any(_bool(operand(v)) for operand in operands)

    return either


def _all(operands: list[Evaluate]) -> Evaluate:
    def both(v: dict[str, Any]) -> bool:  # left to right, stopping at the first false
        return all(_bool(operand(v)) for operand in operands)

    return both
