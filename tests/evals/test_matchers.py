"""Argument matchers: equals (with redaction placeholders), regex, range, CEL."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.evals._matchers import Cel, Equals, Range, Regex, compile_matcher, same
from proctor.evals._problems import SourceFile


def matcher(spec: Any) -> Any:
    source = SourceFile(file="m.yaml", lines={("arg",): 7})
    made = compile_matcher(spec, ("arg",), source)
    assert not source.problems, source.problems
    return made


def problem(spec: Any) -> str:
    source = SourceFile(file="m.yaml", lines={("arg",): 7})
    assert compile_matcher(spec, ("arg",), source) is None
    (found,) = source.problems
    return str(found)


def test_a_plain_value_is_equality() -> None:
    assert isinstance(matcher("V-1001"), Equals)
    assert isinstance(matcher({"vendor": "V-1001"}), Equals)  # not matcher keys: a literal
    assert isinstance(matcher({"equals": {"min": 1}}), Equals)
    assert matcher({"equals": {"min": 1}}).matches(True, {"min": 1}, {}, {})


@pytest.mark.parametrize(
    ("expected", "actual", "equal"),
    [
        (4180, 4180.0, True),
        (4180.0, 4180, True),
        (1, True, False),
        (True, 1, False),
        (False, False, True),
        (None, None, True),
        (None, 0, False),
        ("4180", 4180, False),
        ([1, {"a": "b"}], [1, {"a": "b"}], True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("a.b", "axb", False),
        ("[iban:redacted]", "DE44 5001 0517 5407 3249 31", True),
        ("[iban:sha256:3f1c0a9be2d4]", "DE44 5001", True),
        ("Contact [email:redacted] today", "Contact ada@example.com today", True),
        ("Contact [email:redacted] today", "Call ada@example.com today", False),
        ("[email:redacted]", 42, False),
        ({"iban": "[dropped]"}, {"iban": "anything at all"}, True),
        # A pseudonym stands for one value: itself or real text, never another pseudonym.
        ("[iban:sha256:3f1c0a9be2d4]", "[iban:sha256:3f1c0a9be2d4]", True),
        ("[iban:sha256:3f1c0a9be2d4]", "[iban:sha256:000000000000]", False),
        ("to [email:sha256:3f1c0a9be2d4].", "to [email:sha256:3f1c0a9be2d4].", True),
        ("to [email:sha256:3f1c0a9be2d4].", "to [email:sha256:111111111111].", False),
        ("to [email:sha256:3f1c0a9be2d4].", "to ada@example.com.", True),
        ("[email:redacted]", "[email:sha256:111111111111]", True),
    ],
)
def test_equality_is_json_equality_with_placeholders_standing_for_values(
    expected: Any, actual: Any, equal: bool
) -> None:
    assert same(expected, actual) is equal


def test_an_absent_argument_matches_no_matcher() -> None:
    assert not matcher("x").matches(False, None, {}, {})
    assert not matcher({"min": 0}).matches(False, None, {}, {})


def test_regex_searches_strings_only() -> None:
    found = matcher({"regex": "^INV-\\d+$"})
    assert isinstance(found, Regex)
    assert found.matches(True, "INV-2026", {}, {})
    assert not found.matches(True, "xINV-2026", {}, {})
    assert not found.matches(True, 2026, {}, {})
    assert matcher({"regex": "PO-47"}).matches(True, "see PO-4711", {}, {})


def test_a_range_is_inclusive_and_numeric() -> None:
    found = matcher({"min": 100, "max": 200})
    assert isinstance(found, Range)
    assert [found.matches(True, v, {}, {}) for v in (99.99, 100, 150.5, 200, 200.01)] == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert not found.matches(True, True, {}, {})
    assert not found.matches(True, "150", {}, {})
    assert not found.matches(True, float("nan"), {}, {})
    assert matcher({"min": 5}).matches(True, 10**9, {}, {})
    assert not matcher({"max": 5}).matches(True, 6, {}, {})
    assert found.describe() == "in [100, 200]"


def test_cel_reads_the_call_arguments_and_the_case_input() -> None:
    found = matcher({"cel": "args.vendor_id == input.vendor_id && args.amount > 100"})
    assert isinstance(found, Cel)
    assert found.matches(True, None, {"vendor_id": "V-1", "amount": 101}, {"vendor_id": "V-1"})
    assert not found.matches(True, None, {"vendor_id": "V-2", "amount": 101}, {"vendor_id": "V-1"})
    # Cannot be decided (a missing key): no match, never an exception.
    assert not found.matches(True, None, {"amount": 101}, {"vendor_id": "V-1"})


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"regex": "(unclosed"}, "m.yaml:7: invalid regex '(unclosed'"),
        ({"regex": 5}, "regex must be a string, got 5"),
        ({"min": 5, "max": 1}, "min 5 is above max 1. Fix: swap the bounds"),
        ({"min": "five"}, "min must be a number, got 'five'"),
        ({"regex": "a", "min": 1}, "mixes min, regex"),
        ({"cel": "args.amount >"}, "cannot compile condition"),
        ({"cel": "state.tool_calls > 1"}, "reads state, which a matcher does not have"),
        ({"cel": "amount > 1"}, "unknown variable 'amount'"),
    ],
)
def test_a_bad_matcher_is_a_problem_at_its_line(spec: Any, says: str) -> None:
    text = problem(spec)
    assert text.startswith("m.yaml:7: ")
    assert says in text
    assert "Fix: " in text
