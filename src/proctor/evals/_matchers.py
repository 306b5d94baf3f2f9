"""Argument matchers and call patterns: which calls a fixture or an expectation is about.

An argument's matcher is written as a plain value (equals) or as a mapping of one kind:
``{equals: V}``, ``{regex: R}``, ``{min: A, max: B}`` (either bound may be left out),
``{cel: EXPR}``, ``{any_order: [...]}`` (a list with these items in any order). A
pattern constrains only the arguments it lists, and ignores the paths it is told to
(free text: ``note``, ``order.comment``; a path through a list applies to every item).

Recorded values come from the store, where redaction has replaced personal data and
secrets with placeholders. In an expected string, a masked placeholder
(``[iban:redacted]``, ``[dropped]``) matches any text, so a fixture captured from a
redacted log still answers the live call that carries the real value; a pseudonym
(``[iban:sha256:3f1c0a9be2d4]``, one per distinct value) matches itself or real text,
never another pseudonym, so two different values captured stay two different calls.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from proctor.contracts import CompiledCondition, ConditionError, KeyPath, compile_condition, show
from proctor.errors import ConfigError
from proctor.evals._problems import SourceFile

MATCHER_KEYS = ("equals", "regex", "min", "max", "cel", "any_order")

# The placeholders redaction writes (see proctor.policy's Redactor), plus the runtime's
# stand-in for a credential token a tool echoed back.
_PLACEHOLDER = re.compile(
    r"\[(?:dropped|credential|[a-z][a-z0-9_]*:(?:redacted|sha256:[0-9a-f]{12}))\]"
)
_PSEUDONYM = re.compile(r"\[([a-z][a-z0-9_]*):sha256:[0-9a-f]{12}\]")


class Matcher(Protocol):
    """Decides whether one argument's value is acceptable."""

    def matches(self, present: bool, value: Any, args: dict[str, Any], input: Any) -> bool: ...

    def describe(self) -> str: ...


@functools.lru_cache(maxsize=4096)
def _tolerant(expected: str) -> re.Pattern[str] | None:
    """A regex for ``expected`` in which each redaction placeholder matches what it may
    stand for (see the module's docstring)."""
    if "[" not in expected or not _PLACEHOLDER.search(expected):
        return None
    out: list[str] = []
    at = 0
    for found in _PLACEHOLDER.finditer(expected):
        out.append(re.escape(expected[at : found.start()]))
        pseudonym = _PSEUDONYM.fullmatch(found.group())
        if pseudonym is None:
            out.append("(?s:.*?)")
        else:  # itself, or text that is not another pseudonym of its kind
            prefix = re.escape(f"[{pseudonym[1]}:sha256:")
            out.append(f"(?:{re.escape(found.group())}|(?!{prefix})(?s:.*?))")
        at = found.end()
    out.append(re.escape(expected[at:]))
    return re.compile("".join(out))


def same(expected: Any, actual: Any) -> bool:
    """JSON equality, with booleans never equal to numbers and placeholders standing for
    what they may hide (see the module's docstring)."""
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return False
        if expected == actual:
            return True
        tolerant = _tolerant(expected)
        return tolerant is not None and tolerant.fullmatch(actual) is not None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and expected == actual
    if isinstance(expected, list):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(expected)
            and all(same(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(value, actual[key]) for key, value in expected.items())
        )
    return bool(expected == actual)


def brief(value: Any, limit: int = 60) -> str:
    """A short JSON rendering of a value for messages."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


Path = tuple[str, ...]


def without(value: Any, paths: Iterable[Path]) -> Any:
    """``value`` without what lies at ``paths`` (through lists, in every item)."""
    for path in paths:
        value = _drop(value, path)
    return value


def _drop(value: Any, path: Path) -> Any:
    if isinstance(value, list):
        return [_drop(item, path) for item in value]
    if not isinstance(value, dict) or path[0] not in value:
        return value
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]}
    return {**value, path[0]: _drop(value[path[0]], path[1:])}


@dataclass(frozen=True, slots=True)
class Equals:
    expected: Any
    ignore: tuple[Path, ...] = ()
    """Paths inside the value whose contents never matter (free text)."""

    def matches(self, present: bool, value: Any, args: dict[str, Any], input: Any) -> bool:
        if not present:
            return False
        if self.ignore:
            value = without(value, self.ignore)
        return same(self.expected, value)

    def describe(self) -> str:
        return f"= {brief(self.expected)}"


@dataclass(frozen=True, slots=True)
class AnyOrder:
    """A list holding these items, in any order (each item matched once)."""

    items: tuple[Any, ...]
    ignore: tuple[Path, ...] = ()

    def matches(self, present: bool, value: Any, args: dict[str, Any], input: Any) -> bool:
        if not present or not isinstance(value, list) or len(value) != len(self.items):
            return False
        if self.ignore:
            value = without(value, self.ignore)
        left = list(value)
        for expected in self.items:
            for at, actual in enumerate(left):
                if same(expected, actual):
                    del left[at]
                    break
            else:
                return False
        return True

    def describe(self) -> str:
        return f"= {brief(list(self.items))} in any order"


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: re.Pattern[str]

    def matches(self, present: bool, value: Any, args: dict[str, Any], input: Any) -> bool:
        return present and isinstance(value, str) and self.pattern.search(value) is not None

    def describe(self) -> str:
        return f"~ /{self.pattern.pattern}/"


@dataclass(frozen=True, slots=True)
class Range:
    low: float | None
    high: float | None

    def matches(self, present: bool, value: Any, args: dict[str, Any], input: Any) -> bool:
        if not present or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"in [{low}, {high}]"


@dataclass(frozen=True, slots=True)
class Cel:
    condition: CompiledCondition

    def matches(self, present: bool, value: Any, args: dict[str, Any], input: Any) -> bool:
        try:
            return self.condition.evaluate(args, input if isinstance(input, dict) else {}, {})
        except ConditionError:
            return False  # cannot be decided (a missing key, a wrong type): no match

    def describe(self) -> str:
        return f"satisfies `{self.condition.source}`"


def compile_matcher(
    value: Any, path: KeyPath, source: SourceFile, ignore: tuple[Path, ...] = ()
) -> Matcher | None:
    """The matcher written at ``path``; a problem is added (and None returned) if invalid.
    ``ignore``: paths inside the argument's value that never matter."""
    if not (isinstance(value, dict) and value and set(value) <= set(MATCHER_KEYS)):
        return Equals(without(value, ignore), ignore)
    kinds = set(value)
    if kinds <= {"min", "max"}:
        return _range(value, path, source)
    if len(kinds) > 1:
        source.add(
            path,
            f"matcher {show(value)} mixes {', '.join(sorted(kinds))}",
            "use one kind per argument: equals, regex, cel, or a range (min and/or max)",
        )
        return None
    kind, spec = next(iter(value.items()))
    if kind == "equals":
        return Equals(without(spec, ignore), ignore)
    if kind == "any_order":
        if not isinstance(spec, list):
            source.add((*path, kind), f"any_order takes a list, got {show(spec)}", "use [a, b]")
            return None
        return AnyOrder(tuple(without(spec, ignore)), ignore)
    if not isinstance(spec, str):
        source.add((*path, kind), f"{kind} must be a string, got {show(spec)}", "quote it")
        return None
    if kind == "regex":
        try:
            return Regex(re.compile(spec))
        except re.error as exc:
            source.add((*path, kind), f"invalid regex {spec!r}: {exc}", "fix the pattern")
            return None
    try:
        condition = compile_condition(spec)
    except ConfigError as exc:
        source.add((*path, kind), str(exc), "matchers are CEL over args and input")
        return None
    if "state" in condition.roots:
        source.add(
            (*path, kind),
            f"condition {spec!r} reads state, which a matcher does not have",
            "use args (the call's arguments) and input (the case's input)",
        )
        return None
    return Cel(condition)


def _range(value: dict[str, Any], path: KeyPath, source: SourceFile) -> Matcher | None:
    bounds: list[float | None] = []
    for key in ("min", "max"):
        bound = value.get(key)
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            source.add((*path, key), f"{key} must be a number, got {show(bound)}", "use a number")
            return None
        bounds.append(None if bound is None else float(bound))
    low, high = bounds
    if low is not None and high is not None and low > high:
        source.add(path, f"min {low:g} is above max {high:g}", "swap the bounds")
        return None
    return Range(low, high)


@dataclass(frozen=True, kw_only=True)
class CallPattern:
    """A tool name and matchers for some of its arguments."""

    tool: str
    arguments: tuple[tuple[str, Matcher], ...] = ()
    status: frozenset[str] = frozenset()
    """What must have become of the call (empty: anything)."""
    line: int | None = None

    def matches(
        self, tool: str, arguments: dict[str, Any], input: Any, status: str | None = None
    ) -> bool:
        if tool != self.tool:
            return False
        if self.status and status not in self.status:
            return False
        for name, matcher in self.arguments:
            if not matcher.matches(name in arguments, arguments.get(name), arguments, input):
                return False
        return True

    def mismatches(self, arguments: dict[str, Any], input: Any) -> list[str]:
        """The arguments (of a call of this tool) that do not match, each with why."""
        found = []
        for name, matcher in self.arguments:
            present = name in arguments
            if not matcher.matches(present, arguments.get(name), arguments, input):
                got = brief(arguments.get(name)) if present else "nothing"
                found.append(f"{name}: expected {matcher.describe()}, got {got}")
        return found

    def __str__(self) -> str:
        inner = ", ".join(f"{name} {matcher.describe()}" for name, matcher in self.arguments)
        text = f"{self.tool}({inner})" if inner else self.tool
        return f"{text} [{'|'.join(sorted(self.status))}]" if self.status else text


def compile_pattern(
    tool: str,
    arguments: dict[str, Any],
    path: KeyPath,
    source: SourceFile,
    status: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> CallPattern:
    """A call pattern from its spec; bad matchers are added to ``source`` as problems.
    ``ignore``: argument paths (``note``, ``order.comment``) whose values never matter."""
    inside: dict[str, list[Path]] = {}
    for dotted in ignore:
        name, *rest = dotted.split(".")
        inside.setdefault(name, []).append(tuple(rest))
    compiled = []
    for name, value in arguments.items():
        paths = inside.get(name, [])
        if () in paths:
            continue  # the whole argument is free text
        matcher = compile_matcher(value, (*path, "arguments", name), source, tuple(paths))
        if matcher is not None:
            compiled.append((name, matcher))
    return CallPattern(
        tool=tool, arguments=tuple(compiled), status=frozenset(status), line=source.line(path)
    )
