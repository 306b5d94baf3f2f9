"""A tool's program evaluated in Python (``policy._subset``) gives CEL's value or defers
to CEL (``Doubt``), never a different answer."""

from __future__ import annotations

from typing import Any

import cel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.policy._native import Doubt
from proctor.policy._subset import compile_subset

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([2**53, 2**53 + 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["", "a", "ab", "É", "@x.example"]),
    st.booleans(),
    st.none(),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), scalars, max_size=2),
)
atoms = st.one_of(
    st.sampled_from(["x", "y", "s", "l", "m", "m.a", "_f0"]),
    st.sampled_from(["0", "1", "-2", "1.5", "'a'", '"É"', "''", "true", "false"]),
)


def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(" ".join),
        inner.map(lambda e: f"!({e})"),
        atoms.map(lambda e: f"!{e} == {e}"),
        inner.map(lambda e: f"size({e})"),
        inner.map(lambda e: f"({e}).size()"),
        st.tuples(inner, st.sampled_from(["startsWith", "endsWith", "contains"]), inner).map(
            lambda t: f"({t[0]}).{t[1]}({t[2]})"
        ),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]}) ? ({t[1]}) : ({t[2]})"),
    )


expressions = st.recursive(atoms, extend, max_leaves=6)


numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.0, 2.0, 2**53 + 1]))
words = st.sampled_from(["", "a", "ab", "É", "@x.example"])
typed = st.fixed_dictionaries(
    {
        "x": numbers,
        "y": numbers,
        "s": words,
        "l": st.lists(words, max_size=3),
        "m": st.fixed_dictionaries({"a": numbers}),
        "_f0": st.booleans(),
    }
)


def cel_value(source: str, variables: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, cel.compile(source).execute(variables)
    except Exception:
        return False, None


@FAST
@given(
    expressions,
    st.one_of(
        typed,
        st.fixed_dictionaries(
            {},
            optional=dict.fromkeys(("x", "y", "s", "l", "m", "_f0"), values),
        ),
    ),
)
def test_python_gives_cels_value_or_defers(source: str, variables: dict[str, Any]) -> None:
    evaluate = compile_subset(source)
    assert evaluate is not None, source
    try:
        got = evaluate(variables)
    except Doubt:
        return
    ok, expected = cel_value(source, variables)
    assert ok, f"CEL fails on {source} with {variables}; Python gave {got!r}"
    assert got == expected, (source, variables, got, expected)
    assert type(got) is type(expected), (source, variables, got, expected)


def test_a_programs_codes() -> None:
    source = "(_f0) ? 0 : (_f2 >= 20) ? 2 : !((_f3 || args__to in scopes__r)) ? 10000 : -1"
    evaluate = compile_subset(source)
    assert evaluate is not None
    base = {"_f0": False, "_f2": 3, "_f3": False, "args__to": "a@b.c", "scopes__r": ["a@b.c"]}
    assert evaluate(base) == -1
    assert evaluate({**base, "_f2": 20}) == 2
    assert evaluate({**base, "scopes__r": []}) == 10_000
    for doubtful in ({**base, "_f0": "yes"}, {**base, "scopes__r": None}, {"_f0": False}):
        with pytest.raises(Doubt):
            evaluate(doubtful)


@pytest.mark.parametrize(
    "source",
    [
        "x + 1 > 2",
        "x * 2",
        "matches(s, 'a')",
        "s.matches('a')",
        "has(m.a)",
        "x == null",
        "l.exists(i, i > 1)",
        "s == 'it\\'s'",
        "s == '''x'''",
        "s == r'x'",
        "x > 1e3",
        "x > 0x10",
        "x > 99999999999999999",
        "[1, 2].size() > 1",
        "untrusted(s)",
        "x > 1 )",
    ],
)
def test_the_rest_is_left_to_cel(source: str) -> None:
    assert compile_subset(source) is None


def test_a_long_rule_chain_is_a_loop_and_deep_nesting_is_left_to_cel() -> None:
    rules = 3000  # far past the interpreter's recursion limit, were each rule a level
    chain = " : ".join(f"(x == {i}) ? {i}" for i in range(rules)) + " : -1"
    evaluate = compile_subset(chain)
    assert evaluate is not None
    assert evaluate({"x": rules - 1}) == rules - 1
    assert evaluate({"x": rules}) == -1
    either = compile_subset(" || ".join(f"x == {i}" for i in range(rules)))
    assert either is not None
    assert either({"x": rules - 1}) is True
    assert compile_subset("(" * 3000 + "x" + ")" * 3000) is None
