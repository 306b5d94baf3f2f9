"""Order modes, exactly as docs/evals.md defines them, including their edge cases."""

from __future__ import annotations

from typing import Any

import pytest
from eval_support import calls

from proctor.evals import ORDER_MODES, CallPattern, OrderMode, check_order
from proctor.evals._matchers import compile_pattern
from proctor.evals._problems import SourceFile


def pattern(tool: str, status: tuple[str, ...] = (), **arguments: Any) -> CallPattern:
    source = SourceFile(file="t.yaml")
    made = compile_pattern(tool, arguments, (), source, status)
    assert not source.problems
    return made


def expect(*tools: str) -> list[CallPattern]:
    return [pattern(tool) for tool in tools]


def holds(mode: OrderMode, expected: list[CallPattern], run: list[Any]) -> bool:
    return check_order(mode, expected, run, {}) is None


# (expected, run, modes that hold). a, b, c are tools.
TABLE = [
    (["a", "b", "c"], ["a", "b", "c"], set(ORDER_MODES)),
    (["a", "b"], ["a", "b", "c"], {"prefix", "in_order", "superset"}),
    (["a", "c"], ["a", "b", "c"], {"in_order", "superset"}),
    (["b", "c"], ["a", "b", "c"], {"in_order", "superset"}),
    (["c", "a"], ["a", "b", "c"], {"superset"}),
    (["c", "b", "a"], ["a", "b", "c"], {"unordered", "superset", "subset"}),
    (["a", "b", "c"], ["a", "b"], {"subset"}),
    (["a", "b", "c"], ["a", "c"], {"subset"}),
    (["a", "b"], ["a", "x"], set()),
    # repeated calls: a pattern pairs with one call only
    (["a", "b"], ["a", "a", "b"], {"in_order", "superset"}),
    (["a", "a", "b"], ["a", "b", "a"], {"unordered", "superset", "subset"}),
    (["a", "a"], ["a", "b"], set()),
    (["a", "a"], ["a"], {"subset"}),
    (["a"], ["a", "a"], {"prefix", "in_order", "superset"}),
    (["a", "a"], ["a", "x", "a"], {"in_order", "superset"}),
    # empty expectations
    ([], [], set(ORDER_MODES)),
    ([], ["a"], {"prefix", "in_order", "superset"}),
    (["a"], [], {"subset"}),
]


@pytest.mark.parametrize(("expected", "run", "passing"), TABLE)
def test_each_mode_on_each_pair(expected: list[str], run: list[str], passing: set[str]) -> None:
    verdicts = {mode: holds(mode, expect(*expected), calls(*run)) for mode in ORDER_MODES}
    assert {mode for mode, ok in verdicts.items() if ok} == passing


def test_strict_messages_name_the_position_and_both_calls() -> None:
    assert check_order("strict", expect("a", "b"), calls("a", "c"), {}) == (
        "call 2: expected b, got c {}"
    )
    assert check_order("strict", expect("a"), calls("a", "b"), {}) == (
        "call 2 (b {}) is beyond the 1 expected call(s)"
    )
    assert check_order("prefix", expect("a", "b"), calls("a"), {}) == (
        "the run made 1 call(s); expected call 2 is b"
    )


def test_in_order_says_after_which_call_the_pattern_is_missing() -> None:
    problem = check_order("in_order", expect("a", "b", "c"), calls("x", "a", "c", "b"), {})
    assert problem == "expected call 3 (c) does not occur after call 4"
    assert check_order("in_order", expect("z"), calls("a"), {}) == (
        "expected call 1 (z) does not occur"
    )


def test_multiset_modes_name_what_is_missing_or_extra() -> None:
    assert check_order("superset", expect("a", "b"), calls("a"), {}) == (
        "no call fits b (1 expected call(s) unmatched)"
    )
    assert check_order("subset", expect("a"), calls("a", "x"), {}) == (
        "call 2 (x {}) fits no expected call (1 call(s) beyond the expected ones)"
    )


def test_overlapping_patterns_are_paired_by_maximum_matching() -> None:
    # Greedy pairing would give the first call to the catch-all pattern and then find
    # nothing for the specific one; a maximum matching pairs them the other way round.
    expected = [pattern("a"), pattern("a", x=1)]
    run = calls(("a", {"x": 1}), ("a", {"x": 2}))
    assert holds("unordered", expected, run)
    assert holds("superset", expected, run)
    assert not holds("unordered", [pattern("a", x=1), pattern("a", x=1)], run)


def test_arguments_and_status_take_part_in_fitting() -> None:
    run = calls(("pay", {"amount": 50.0}, "denied"), ("pay", {"amount": 50.0}, "ok"))
    assert holds("strict", [pattern("pay", amount={"max": 100}), pattern("pay")], run)
    assert not holds("strict", [pattern("pay", amount={"min": 100}), pattern("pay")], run)
    only_ok = [pattern("pay", status=("ok",))]
    assert holds("in_order", only_ok, run)
    assert check_order("prefix", only_ok, run, {}) == (
        'call 1: expected pay [ok], got pay {"amount":50.0}'
    )
