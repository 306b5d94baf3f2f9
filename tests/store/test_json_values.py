"""What a run's input and other recorded values may hold: refused at the edge, by name."""

from __future__ import annotations

import math

import pytest

from proctor.store import MAX_JSON_DEPTH, canonical_json, json_value_problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, {"b": math.nan}]}, "input.a[1].b is nan"),
        ({"a": math.inf}, "input.a is inf"),
        ({"n": 2**64}, "input.n is an integer beyond 64 bits"),
        ({"n": -(2**63) - 1}, "input.n is an integer beyond 64 bits"),
        ({"s": "\ud800"}, "input.s holds a lone surrogate"),
        ({"\udfff": 1}, "input has a key with a lone surrogate"),
        ({"o": object()}, "input.o is a object"),
    ],
)
def test_values_json_cannot_hold_are_named(value: object, expected: str) -> None:
    problem = json_value_problem(value, where="input")
    assert problem is not None
    assert problem.startswith(expected)


def test_nesting_beyond_the_bound_is_refused_without_recursion() -> None:
    deep: list[object] = []
    inner = deep
    for _ in range(10_000):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    assert json_value_problem(deep, where="input") == (
        f"input is nested more than {MAX_JSON_DEPTH} levels deep"
    )


def test_everything_it_accepts_canonical_json_can_write() -> None:
    edge = {"max": 2**64 - 1, "min": -(2**63), "f": 1.5e300, "t": "é ✓ \x00", "l": [None, True]}
    nested: dict[str, object] = {}
    inner = nested
    for _ in range(MAX_JSON_DEPTH - 1):
        inner["x"] = {}
        inner = inner["x"]  # type: ignore[assignment]
    for value in (edge, nested):
        assert json_value_problem(value) is None
        canonical_json(value)
