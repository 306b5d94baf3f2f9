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

Partial orders (``before``) and counts are checked over the same calls: a partial order
holds when every call fitting ``then`` has, earlier in the run, a call fitting each of
``all_of`` and one fitting some of ``any_of``; reads among themselves may come in any
order. A count bounds how many calls fit a pattern, in the whole run or for each value
of an argument (``per``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from proctor.evals._matchers import CallPattern, brief
from proctor.evals._spec import OrderMode

if TYPE_CHECKING:
    from proctor.evals._case import CountRule, PartialOrder


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


def check_before(rule: PartialOrder, calls: Sequence[Call], input: Any) -> str | None:
    """Why a call fitting ``rule.then`` comes too early; None if none does."""
    seen_all = [False] * len(rule.all_of)
    seen_any = not rule.any_of
    for at, call in enumerate(calls):
        if any(fits(pattern, call, input) for pattern in rule.then):
            missing = [str(p) for p, done in zip(rule.all_of, seen_all, strict=True) if not done]
            if not seen_any:
                missing.append(" or ".join(str(p) for p in rule.any_of))
            if missing:
                return (
                    f"call {at + 1} ({show_call(call)}) comes before any call fitting "
                    f"{missing[0]}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                )
        for k, pattern in enumerate(rule.all_of):
            if not seen_all[k] and fits(pattern, call, input):
                seen_all[k] = True
        if not seen_any and any(fits(pattern, call, input) for pattern in rule.any_of):
            seen_any = True
    return None


_ABSENT = object()


def _value_at(arguments: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = arguments
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def check_count(rule: CountRule, calls: Sequence[Call], input: Any) -> list[str]:
    """Why the number of calls fitting ``rule.pattern`` is out of bounds (per value of
    ``rule.per``, if given); empty if it is not."""
    groups: dict[str, list[int]] = {}
    if rule.per is None:
        groups[""] = []
    for at, call in enumerate(calls):
        if fits(rule.pattern, call, input):
            key = ""
            if rule.per is not None:
                value = _value_at(call.arguments, rule.per)
                key = "(absent)" if value is _ABSENT else brief(value, 40)
            groups.setdefault(key, []).append(at + 1)
    problems = []
    for key, numbers in groups.items():
        bound = _out_of_bounds(rule, len(numbers))
        if bound is None:
            continue
        where = f" with {'.'.join(rule.per)} = {key}" if rule.per is not None else ""
        which = f" (calls {', '.join(map(str, numbers))})" if numbers else ""
        problems.append(f"{len(numbers)} call(s) fit {rule.pattern}{where}{which}, {bound}")
    return problems


def _out_of_bounds(rule: CountRule, n: int) -> str | None:
    if rule.exactly is not None and n != rule.exactly:
        return f"expected exactly {rule.exactly}"
    if rule.at_most is not None and n > rule.at_most:
        return f"more than at_most {rule.at_most}"
    if rule.at_least is not None and n < rule.at_least:
        return f"fewer than at_least {rule.at_least}"
    return None
