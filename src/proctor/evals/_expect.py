"""Checking a replayed run against its case's expectations.

Every expectation is checked and every failure kept, in a fixed order (outcome, tools
that must and must not be called, call order, partial orders, counts, policy, ceilings,
final answer, calls without a fixture), so "the first failed expectation" is the same on
every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proctor.evals._case import Case, Expectations
from proctor.evals._observe import Observed
from proctor.evals._order import check_before, check_count, check_order, fits, show_call

# Costs are sums of float products: a ceiling captured from a run must still hold when
# the same run is replayed, whatever the order of additions.
_COST_SLACK = 1e-9


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """One expectation the run did not meet."""

    expectation: str
    """Which one: ``outcome``, ``must_call``, ``calls``, ``policy``, ``ceilings``, ..."""
    message: str

    def __str__(self) -> str:
        return f"{self.expectation}: {self.message}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Deviation:
    """A call the replay could not answer: no fixture matches it."""

    call: int
    """The call's position among the run's calls, from 1."""
    tool: str
    arguments: dict[str, object]
    closest: str
    """The closest fixture and how the call differs from it (or why there is none)."""

    def __str__(self) -> str:
        return f"call {self.call}: no fixture for {self.tool}; {self.closest}"


def check(
    case: Case,
    seen: Observed,
    deviations: Sequence[Deviation] = (),
    *,
    writes: frozenset[str] = frozenset(),
) -> list[Failure]:
    """Every failed expectation of ``case`` in the run ``seen``, in the fixed order;
    ``writes`` names the workflow's write tools (for ``calls.only: writes``)."""
    expect = case.expect
    failures: list[Failure] = []
    _outcome(expect, seen, failures)
    for pattern in expect.must_call:
        if not any(fits(pattern, c, case.input) for c in seen.calls):
            failures.append(Failure(expectation="must_call", message=f"no call fits {pattern}"))
    for pattern in expect.must_not_call:
        for i, call in enumerate(seen.calls):
            if fits(pattern, call, case.input):
                message = f"call {i + 1} ({show_call(call)}) fits {pattern} ({call.status})"
                failures.append(Failure(expectation="must_not_call", message=message))
                break
    if expect.order is not None:
        calls = seen.calls
        label: str = expect.order
        if expect.writes_only:
            calls = [call for call in seen.calls if call.tool in writes]
            label = f"{expect.order}, writes only"
        problem = check_order(expect.order, expect.sequence, calls, case.input)
        if problem is not None:
            failures.append(Failure(expectation=f"calls ({label})", message=problem))
    for rule in expect.before:
        problem = check_before(rule, seen.calls, case.input)
        if problem is not None:
            failures.append(Failure(expectation="before", message=problem))
    for count in expect.counts:
        for problem in check_count(count, seen.calls, case.input):
            failures.append(Failure(expectation="counts", message=problem))
    _policy(expect, seen, failures)
    _ceilings(expect, seen, failures)
    _final_answer(expect, seen, failures)
    if not case.allow_unmatched_calls:
        for deviation in deviations:
            failures.append(Failure(expectation="fixtures", message=str(deviation)))
    return failures


def _outcome(expect: Expectations, seen: Observed, failures: list[Failure]) -> None:
    if expect.outcome and seen.outcome not in expect.outcome:
        wanted = " or ".join(expect.outcome)
        why = f" ({seen.reason})" if seen.reason else ""
        failures.append(
            Failure(expectation="outcome", message=f"expected {wanted}, got {seen.outcome}{why}")
        )


def _policy(expect: Expectations, seen: Observed, failures: list[Failure]) -> None:
    if expect.no_violation and seen.violations:
        rule, reason = seen.violations[0]
        failures.append(Failure(expectation="policy", message=f"violation [{rule}] {reason}"))
    fired = set(seen.rules)
    for rule in expect.require_rules:
        if rule not in fired:
            listed = ", ".join(dict.fromkeys(seen.rules)) or "none"
            message = f"rule {rule} never fired (fired: {listed})"
            failures.append(Failure(expectation="policy", message=message))
    for rule in expect.forbid_rules:
        if rule in fired:
            failures.append(Failure(expectation="policy", message=f"rule {rule} fired"))


def _ceilings(expect: Expectations, seen: Observed, failures: list[Failure]) -> None:
    ceilings = expect.ceilings
    counted = (
        ("tool_calls", seen.tool_calls, ceilings.tool_calls, "tool calls"),
        ("model_calls", seen.model_calls, ceilings.model_calls, "model calls"),
        ("tokens", seen.tokens, ceilings.tokens, "tokens"),
    )
    for _, value, ceiling, label in counted:
        if ceiling is not None and value > ceiling:
            message = f"{value:,} {label}, over the ceiling of {ceiling:,}"
            failures.append(Failure(expectation="ceilings", message=message))
    ceiling_usd = ceilings.cost_usd
    if ceiling_usd is None:
        return
    if seen.cost_usd is None:
        message = f"cost unknown (a model without a price), ceiling ${ceiling_usd:g}"
        failures.append(Failure(expectation="ceilings", message=message))
    elif seen.cost_usd > ceiling_usd * (1 + _COST_SLACK) + 1e-12:
        message = f"cost ${seen.cost_usd:.6f}, over the ceiling of ${ceiling_usd:.6f}"
        failures.append(Failure(expectation="ceilings", message=message))


def _final_answer(expect: Expectations, seen: Observed, failures: list[Failure]) -> None:
    if not (expect.contains or expect.not_contains or expect.regex):
        return
    text = seen.final_text
    if text is None:
        failures.append(Failure(expectation="final_answer", message="the run gave no final answer"))
        return
    for needle in expect.contains:
        if needle not in text:
            message = f"does not contain {needle!r}"
            failures.append(Failure(expectation="final_answer", message=message))
    for needle in expect.not_contains:
        if needle in text:
            failures.append(Failure(expectation="final_answer", message=f"contains {needle!r}"))
    for pattern in expect.regex:
        if pattern.search(text) is None:
            message = f"does not match /{pattern.pattern}/"
            failures.append(Failure(expectation="final_answer", message=message))
