"""Plain tests of one argument decided in Python (``policy._native``) give CEL's answer
or defer to it (``Doubt``), and a policy decides the same with them as with CEL alone."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.contracts import ConditionError, Contract, compile_condition
from proctor.policy import Policy, ProposedCall
from proctor.policy._native import Doubt, native_chain, predicate
from proctor.store import RunState
from proctor.tools import Registry, tool

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(-(2**60), 2**60),
    st.sampled_from([0, 1, -1, 1000, 2**53, 2**53 + 1, -(2**53) - 1, 2**63, 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1000.0, 999.5, 1e300]),
)
texts = st.sampled_from(["", "a", "ab", "ba", "@x.example", "ann@x.example", "/secret/1", "É"])
values = st.one_of(numbers, texts, st.booleans(), st.none(), st.just([1]), st.just({"a": 1}))
literals = st.one_of(
    st.integers(-5000, 5000).map(str),
    st.sampled_from(["0", "-1", "1000", "0.5", "-2.25", "1000.0", "9007199254740992"]),
)
string_literals = st.sampled_from(["", "a", "@x.example", "/secret", "É", "b a"])


@st.composite
def conditions(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["number", "string", "method"]))
    if kind == "number":
        op = draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<="]))
        return f"args.v {op} {draw(literals)}"
    quote = draw(st.sampled_from(["'", '"']))
    literal = f"{quote}{draw(string_literals)}{quote}"
    if kind == "string":
        return f"args.v {draw(st.sampled_from(['==', '!=']))} {literal}"
    return f"args.v.{draw(st.sampled_from(['startsWith', 'endsWith', 'contains']))}({literal})"


def cel_answer(source: str, args: dict[str, Any]) -> bool | None:
    """CEL's answer, ``None`` if it cannot decide (an error)."""
    try:
        return compile_condition(source).run({"args": args})
    except ConditionError:
        return None


@FAST
@given(conditions(), st.one_of(values.map(lambda v: {"v": v}), st.just({})))
def test_a_plain_test_answers_as_cel_or_defers(source: str, args: dict[str, Any]) -> None:
    test = predicate(source)
    assert test is not None, source
    expected = cel_answer(source, args)
    try:
        got = test(args)
    except Doubt:
        return
    assert expected is not None, f"CEL fails on {source} with {args}, Python said {got}"
    assert got == expected, (source, args)


def test_values_cel_would_refuse_are_left_to_it() -> None:
    greater = predicate("args.amount > 1000")
    assert greater is not None
    for doubtful in ({}, {"amount": True}, {"amount": "2000"}, {"amount": math.nan}):
        with pytest.raises(Doubt):
            greater(doubtful)
    assert greater({"amount": 1000.5}) is True
    assert greater({"amount": 1000}) is False
    ends = predicate("args.to.endsWith('@corp.example')")
    assert ends is not None
    assert ends({"to": "ann@corp.example"}) is True
    with pytest.raises(Doubt):
        ends({"to": ["ann@corp.example"]})


@pytest.mark.parametrize(
    "source",
    [
        "args.a > 5 && args.b > 1",
        "size(args.to) > 3",
        "args.a in [1, 2]",
        "input.a > 5",
        "args.a > 1e3",
        "args.a > 0x10",
        "args.a > 007",
        "args.a == 'it\\'s'",
        "args.a == '''x'''",
        "args.a.b > 5",
        "untrusted(args.to)",
        "args.a > 99999999999999999",
    ],
)
def test_other_shapes_go_to_cel(source: str) -> None:
    assert predicate(source) is None


def test_a_chain_gives_one_programs_codes() -> None:
    decide = native_chain(
        ["args.amount > 100"],
        ["args.to.endsWith('@corp.example')", None],
        ["args.amount > 10", None],
        default_deny=10_000,
        approval=20_000,
    )
    assert decide is not None
    assert decide({"amount": 500, "to": "a@corp.example"}) == 0
    assert decide({"amount": 50, "to": "a@corp.example"}) == 20_000
    assert decide({"amount": 5, "to": "a@corp.example"}) == 20_001
    strict = native_chain(
        [], ["args.to.endsWith('@corp.example')"], [], default_deny=10_000, approval=20_000
    )
    assert strict is not None
    assert strict({"to": "a@evil.example"}) == 10_000
    assert strict({"to": "a@corp.example"}) == -1
    assert native_chain(["size(args.to) > 3"], None, [], default_deny=1, approval=2) is None


@tool("pay", effect="write")
def pay(to: str, amount: float, note: str = "") -> None:
    """Pay."""


REGISTRY = Registry([pay])
CONTRACT = Contract.model_validate(
    {
        "workflow": "w",
        "default": "deny",
        "rules": [
            {"deny": "pay", "when": "args.amount > 5000", "id": "big"},
            {"deny": "pay", "when": "args.note.contains('urgent')", "id": "urgent"},
            {"allow": "pay", "when": "args.to.endsWith('@corp.example')"},
            {"allow": "pay", "when": "args.to == 'bank@partner.example'"},
        ],
        "approvals": [
            {"tool": "pay", "when": "args.amount >= 1000", "id": "thousand"},
            {"tool": "pay", "when": "args.note.startsWith('new')", "id": "new"},
        ],
    }
)


@FAST
@given(
    st.fixed_dictionaries(
        {"to": st.one_of(texts, st.sampled_from(["a@corp.example", "bank@partner.example"]))},
        optional={"amount": numbers, "note": st.one_of(texts, st.just("new urgent"), values)},
    )
)
def test_a_policy_decides_the_same_without_them(arguments: dict[str, Any]) -> None:
    native, cel_only = Policy(CONTRACT, REGISTRY), Policy(CONTRACT, REGISTRY)
    plan = cel_only._plan("pay")
    assert native._plan("pay").native is not None
    plan.native = None
    call = ProposedCall(name="pay", arguments=arguments, args_digest="d", tool=pay)
    state = RunState(tool_calls=1, started_ts=1000.0)
    got = native.decide(call, state, now=1001.0)
    assert got == cel_only.decide(call, state, now=1001.0)
