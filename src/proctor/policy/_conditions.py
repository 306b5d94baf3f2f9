"""Evaluating conditions with Proctor's functions over one run's facts.

``Conditions`` holds the CEL functions of ``contracts.FUNCTIONS``; ``session`` points them
at the run being decided (its facts and the time) and gives a ``Session`` that evaluates
compiled conditions over one decision's variables. One ``cel.Context`` per thread carries
the functions, built once; a condition that calls none runs on a plain dict, and a
rewritten program (``_precompute``) has its fixed-argument calls made in Python first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from proctor.contracts import CompiledCondition, ConditionError
from proctor.policy import _text
from proctor.policy._facts import CallFact, RunFacts
from proctor.policy._native import Doubt
from proctor.policy._precompute import MISSING, Argument, Precomputed, flat_variables, resolve
from proctor.policy._provenance import Trace

if TYPE_CHECKING:
    import cel


class Conditions:
    """Proctor's condition functions, bound to one run at a time."""

    def __init__(self, functions: frozenset[str]) -> None:
        self._functions = functions
        self._local = threading.local()

    def session(
        self, facts: RunFacts, now: float, variables: dict[str, Any], *, functions: bool
    ) -> Session:
        """Conditions evaluated over ``variables``; ``functions``: some condition calls
        Proctor's functions (they are bound to ``facts`` and ``now``)."""
        if not functions:
            return Session(variables, None)
        bound: _Bound | None = getattr(self._local, "bound", None)
        if bound is None:
            bound = self._local.bound = _Bound(self._functions)
        bound.facts, bound.now, bound.traces = facts, now, {}
        return Session(variables, bound)


class Session:
    """One decision's conditions, sharing its variables (and one context, set when a
    condition first calls back into Python)."""

    __slots__ = ("_bound", "_ready", "_variables")

    def __init__(self, variables: dict[str, Any], bound: _Bound | None) -> None:
        self._variables = variables
        self._bound = bound
        self._ready = False

    def holds(self, condition: CompiledCondition) -> bool:
        """Whether ``condition`` holds; ``ConditionError`` if it cannot be decided."""
        return condition.run(self._context(condition))

    def value(self, condition: CompiledCondition) -> Any:
        """The value of ``condition``; ``ConditionError`` if it cannot be computed."""
        return condition.value(self._context(condition))

    def precomputed(self, pre: Precomputed) -> Any:
        """The value of a rewritten program, its fixed-argument calls made here first."""
        try:
            made: list[Any] = []
            for name, arguments in pre.calls:
                made.append(self._call(name, arguments, made))
            variables = flat_variables(pre, self._variables, made)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ConditionError(f"{type(exc).__name__}: {exc}") from exc
        if pre.native is not None:
            try:
                return pre.native(variables)
            except Doubt:
                pass  # CEL decides
        if not pre.callbacks:
            # Nothing calls back: a plain dict is the cheapest context.
            return pre.program.value(variables)
        assert self._bound is not None
        self._bound.context.update(variables)
        self._ready = False  # the context now holds the rewritten program's variables
        return pre.program.value(self._bound.context)

    def _call(self, name: str, arguments: tuple[Argument, ...], made: list[Any]) -> Any:
        bound = self._bound
        assert bound is not None
        variables = self._variables
        # As CEL would, fail only if the program reads the result.
        try:
            values = [resolve(a, variables, made) for a in arguments]
            quantifier, _, function = name.rpartition(":")
            if not quantifier:
                return bound.functions[name](*values)
            # LIST.exists(x, f(x)) or LIST.all(x, f(x)), f giving a bool; anything else
            # (not a list, an error on the way) is left for CEL's own rules to decide.
            (items,) = values
            if not isinstance(items, list):
                return MISSING
            test = bound.functions[function]
            return (any if quantifier == "exists" else all)(test(item) for item in items)
        except (KeyError, TypeError, ValueError, ArithmeticError, ConditionError):
            return MISSING

    def _context(self, condition: CompiledCondition) -> dict[str, Any] | cel.Context:
        if self._bound is None or not condition.functions:
            return self._variables
        if not self._ready:
            self._bound.context.update(self._variables)
            self._ready = True
        return self._bound.context


class _Bound:
    """The functions of one thread's context, reading the run being decided."""

    def __init__(self, names: frozenset[str]) -> None:
        import cel

        self.facts: RunFacts | None = None
        self.now = 0.0
        self.traces: dict[str, Trace] = {}
        context = cel.Context()
        functions: dict[str, Callable[..., Any]] = {
            "origin": lambda x: self._trace(x).origin,
            "trusted": lambda x: self._trace(x).trusted,
            "untrusted": lambda x: self._trace(x).untrusted,
            "from_input": lambda x: self._trace(x).found_in("input"),
            "from_tool": lambda x, tool: self._trace(x).found_in(_text_arg(tool, "from_tool")),
            "count": self._count,
            "sum": self._sum,
            "last": self._last,
            "lower": lambda s: _text_arg(s, "lower").lower(),
            "upper": lambda s: _text_arg(s, "upper").upper(),
            "trim": lambda s: _text_arg(s, "trim").strip(),
            "split": lambda s, sep: _text_arg(s, "split").split(_text_arg(sep, "split")),
            "join": lambda items, sep: _text_arg(sep, "join").join(str(i) for i in items),
            "replace": lambda s, old, new: _text_arg(s, "replace").replace(old, new),
            "find_all": lambda s, pattern: _text.find_all(_text_arg(s, "find_all"), pattern),
            "emails": lambda s: _over_text(s, _text.emails),
            "urls": lambda s: _over_text(s, _text.urls),
            "domains": lambda s: _over_text(s, _text.domains),
            "ibans": lambda s: _over_text(s, _text.ibans),
            "numbers": lambda s: _over_text(s, _text.numbers),
            "distinct": _distinct,
            "flatten": _flatten,
            "intersects": lambda a, b: _intersects(a, b),
        }
        # Each function registered costs time whenever the variables change: only those
        # the contract calls.
        for name, function in functions.items():
            if name in names:
                context.add_function(name, function)
        self.functions = functions
        self.context: cel.Context = context

    def _trace(self, value: Any) -> Trace:
        facts = self.facts
        assert facts is not None
        key = _key(value)
        trace = self.traces.get(key)
        if trace is None:
            trace = self.traces[key] = facts.provenance.trace(value)
        return trace

    def _matching(self, tool: Any, window_s: Any = None) -> list[CallFact]:
        facts = self.facts
        assert facts is not None
        name = _text_arg(tool, "count")
        since = None if window_s is None else self.now - float(window_s)
        return [
            call
            for call in facts.calls.values()
            if call.counted
            and (name == "*" or call.tool == name)
            and (since is None or call.at >= since)
        ]

    def _count(self, tool: Any, window_s: Any = None) -> int:
        return len(self._matching(tool, window_s))

    def _sum(self, tool: Any, field: Any) -> float:
        """A running total; an int while every amount is one (CEL never mixes int and
        double: compare with ``double(args.amount)`` when amounts have decimals)."""
        path = _text_arg(field, "sum").removeprefix("args.").split(".")
        total: float = 0
        for call in self._matching(tool):
            value: Any = call.args
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                total += value
        return total

    def _last(self, tool: Any) -> dict[str, Any] | None:
        found = self._matching(tool)
        facts = self.facts
        assert facts is not None
        return facts.cel_call(found[-1]) if found else None


def _text_arg(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise ConditionError(f"{function}() takes text, got {type(value).__name__}")
    return value


def _over_text(value: Any, extract: Callable[[str], list[Any]]) -> list[Any]:
    """A text function applied to a string, or to each string of a list (one list out)."""
    if isinstance(value, str):
        return extract(value)
    if isinstance(value, list):
        return [found for item in value if isinstance(item, str) for found in extract(item)]
    if value is None:
        return []
    raise ConditionError(f"expected text or a list of text, got {type(value).__name__}")


def _key(value: Any) -> str:
    if isinstance(value, str):
        return "s" + value
    return "j" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _distinct(items: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(_key(item), item)
    return list(seen.values())


def _flatten(items: list[Any]) -> list[Any]:
    return [inner for item in items for inner in (item if isinstance(item, list) else [item])]


def _intersects(a: list[Any], b: list[Any]) -> bool:
    return bool({_key(i) for i in a} & {_key(i) for i in b})
