"""Order modes: how a run's tool calls are compared with an expected sequence.

With E = e1..en the expected patterns and R = r1..rm the run's calls in the order the
model proposed them ("ri fits ej": same tool, every listed argument matcher holds):

* ``strict``: m = n and each ri fits ei.
* ``prefix``: m >= n and each ri fits ei for i <= n (the run starts with exactly E).
* ``in_order``: E is a subsequence of R: indices j1 < ... < jn with r(jk) fitting ek;
  other calls may come before, between and after.
* ``unordered``: m = n and the calls can be paired one to one with the patterns (the
  same multiset, order ignored).
* ``superset``: each pattern can be paired with its own call (R contains E as a
  multiset); R may hold more.
* ``subset``: each call can be paired with its own pattern (R is within E as a
  multiset); E may hold more.

With E empty, ``strict``, ``unordered`` and ``subset`` require a run without tool calls;
``prefix``, ``in_order`` and ``superset`` always hold. A pattern matched once cannot be
matched again, so repeated calls need repeated patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from proctor.evals._matchers import CallPattern, brief
from proctor.evals._spec import OrderMode


class Call(Protocol):
    @property
    def tool(self) -> str: ...

    @property
    def arguments(self) -> dict[str, Any]: ...

    @property
    def status(self) -> str: ...


def fits(pattern: CallPattern, call: Call, input: Any) -> bool:
    return pattern.matches(call.tool, call.arguments, input, call.status)


def show_call(call: Call) -> str:
    return f"{call.tool} {brief(call.arguments, 80)}"


def check_order(
    mode: OrderMode, expected: Sequence[CallPattern], calls: Sequence[Call], input: Any
) -> str | None:
    """Why ``calls`` do not satisfy ``expected`` under ``mode``; None if they do."""
    if mode == "strict":
        return _positional(expected, calls, input, exact=True)
    if mode == "prefix":
        return _positional(expected, calls, input, exact=False)
    if mode == "in_order":
        return _subsequence(expected, calls, input)
    pairs = _pairing(expected, calls, input)
    missing = [p for i, p in enumerate(expected) if i not in pairs]
    paired = set(pairs.values())
    extra = [(j, c) for j, c in enumerate(calls) if j not in paired]
    if mode in ("unordered", "superset") and missing:
        return f"no call fits {missing[0]} ({len(missing)} expected call(s) unmatched)"
    if mode in ("unordered", "subset") and extra:
        j, call = extra[0]
        return (
            f"call {j + 1} ({show_call(call)}) fits no expected call "
            f"({len(extra)} call(s) beyond the expected ones)"
        )
    return None


def _positional(
    expected: Sequence[CallPattern], calls: Sequence[Call], input: Any, *, exact: bool
) -> str | None:
    for i, pattern in enumerate(expected):
        if i >= len(calls):
            return f"the run made {len(calls)} call(s); expected call {i + 1} is {pattern}"
        call = calls[i]
        if not fits(pattern, call, input):
            return f"call {i + 1}: expected {pattern}, got {show_call(call)}"
    if exact and len(calls) > len(expected):
        extra = calls[len(expected)]
        return (
            f"call {len(expected) + 1} ({show_call(extra)}) is beyond the {len(expected)} "
            "expected call(s)"
        )
    return None


def _subsequence(expected: Sequence[CallPattern], calls: Sequence[Call], input: Any) -> str | None:
    # Taking the earliest fitting call for each pattern is optimal for a subsequence.
    at = last = 0
    for k, pattern in enumerate(expected):
        while at < len(calls) and not fits(pattern, calls[at], input):
            at += 1
        if at == len(calls):
            after = f" after call {last}" if last else ""
            return f"expected call {k + 1} ({pattern}) does not occur{after}"
        at += 1
        last = at
    return None


def _pairing(expected: Sequence[CallPattern], calls: Sequence[Call], input: Any) -> dict[int, int]:
    """A maximum one-to-one pairing of patterns with calls they fit (pattern -> call)."""
    options = [[j for j, c in enumerate(calls) if fits(p, c, input)] for p in expected]
    owner: dict[int, int] = {}  # call -> pattern

    def place(i: int, seen: set[int]) -> bool:
        for j in options[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        place(i, set())
    return {i: j for j, i in owner.items()}
