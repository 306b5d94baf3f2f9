"""Expectations checked against what a run did, in their fixed order."""

from __future__ import annotations

from typing import Any

from eval_support import calls, case

from proctor.evals import Deviation, Observed, check


def seen(**facts: Any) -> Observed:
    defaults: dict[str, Any] = {"outcome": "resolved", "reason": "the model gave its final answer"}
    return Observed(**(defaults | facts))


def failures(text: str, observed: Observed, deviations: tuple[Deviation, ...] = ()) -> list[str]:
    return [str(f) for f in check(case(text), observed, deviations)]


def test_a_case_without_expectations_passes_any_run() -> None:
    assert failures("input: {}\n", seen(outcome="failed", calls=calls("x", "y"))) == []


def test_outcome_may_be_one_of_several() -> None:
    text = "expect: {outcome: [escalated, resolved]}\n"
    assert failures(text, seen(outcome="resolved")) == []
    assert failures(text, seen(outcome="awaiting_approval", reason="")) == [
        "outcome: expected escalated or resolved, got awaiting_approval"
    ]


def test_must_and_must_not_call_with_arguments_and_status() -> None:
    text = """
expect:
  must_call: [{tool: erp.fetch_po, arguments: {po_number: PO-1}}]
  must_not_call: [wire_transfer.create, {tool: erp.create_payment, status: ok}]
"""
    good = calls(("erp.fetch_po", {"po_number": "PO-1"}), ("erp.create_payment", {}, "denied"))
    assert failures(text, seen(calls=good)) == []
    bad = calls(
        ("erp.fetch_po", {"po_number": "PO-2"}),
        ("wire_transfer.create", {"iban": "X"}, "denied"),
        ("erp.create_payment", {}, "ok"),
    )
    assert failures(text, seen(calls=bad)) == [
        'must_call: no call fits erp.fetch_po(po_number = "PO-1")',
        'must_not_call: call 2 (wire_transfer.create {"iban":"X"}) fits wire_transfer.create '
        "(denied)",
        "must_not_call: call 3 (erp.create_payment {}) fits erp.create_payment [ok] (ok)",
    ]


def test_policy_violations_and_rules() -> None:
    text = """
expect:
  policy:
    no_violation: true
    require_rule: [approval.erp.create_payment]
    forbid_rule: approval.granted
"""
    clean = seen(rules=["default.allow", "approval.erp.create_payment"])
    assert failures(text, clean) == []
    messy = seen(
        rules=["default.allow", "ordering.erp.create_payment", "approval.granted"],
        violations=[("ordering.erp.create_payment", "pay after the check")],
    )
    assert failures(text, messy) == [
        "policy: violation [ordering.erp.create_payment] pay after the check",
        "policy: rule approval.erp.create_payment never fired (fired: default.allow, "
        "ordering.erp.create_payment, approval.granted)",
        "policy: rule approval.granted fired",
    ]


def test_ceilings_are_inclusive_and_an_unknown_cost_fails_a_cost_ceiling() -> None:
    text = (
        "expect: {ceilings: {tool_calls: 5, model_calls: 6, tokens: 4740, cost_usd: 0.00078435}}\n"
    )
    at = seen(tool_calls=5, model_calls=6, tokens=4740, cost_usd=0.00078435000000001)
    assert failures(text, at) == []
    over = seen(tool_calls=6, model_calls=7, tokens=4741, cost_usd=0.0008)
    assert failures(text, over) == [
        "ceilings: 6 tool calls, over the ceiling of 5",
        "ceilings: 7 model calls, over the ceiling of 6",
        "ceilings: 4,741 tokens, over the ceiling of 4,740",
        "ceilings: cost $0.000800, over the ceiling of $0.000784",
    ]
    assert failures(text, seen(tool_calls=1, cost_usd=None)) == [
        "ceilings: cost unknown (a model without a price), ceiling $0.00078435"
    ]


def test_final_answer_checks_are_about_facts_not_wording() -> None:
    text = """
expect:
  final_answer:
    contains: INV-2026-0042
    not_contains: [wire]
    regex: "PAY-[0-9A-F]{12}"
"""
    for wording in (
        "Paid invoice INV-2026-0042: payment PAY-FB9C1D14087B.",
        "Done - INV-2026-0042 is settled (ref PAY-FB9C1D14087B).",
    ):
        assert failures(text, seen(final_text=wording)) == []
    assert failures(text, seen(final_text="Sent a wire for INV-2026-0041.")) == [
        "final_answer: does not contain 'INV-2026-0042'",
        "final_answer: contains 'wire'",
        "final_answer: does not match /PAY-[0-9A-F]{12}/",
    ]
    assert failures(text, seen(final_text=None)) == ["final_answer: the run gave no final answer"]


def test_failures_come_in_a_fixed_order_and_deviations_last() -> None:
    text = """
expect:
  outcome: resolved
  must_call: [a]
  calls: {order: strict, sequence: [a]}
  ceilings: {tool_calls: 0}
"""
    deviation = Deviation(call=1, tool="b", arguments={}, closest="nothing close")
    found = failures(
        text, seen(outcome="escalated", reason="", tool_calls=1, calls=calls("b")), (deviation,)
    )
    assert [line.split(":")[0] for line in found] == [
        "outcome",
        "must_call",
        "calls (strict)",
        "ceilings",
        "fixtures",
    ]
    assert found[-1] == "fixtures: call 1: no fixture for b; nothing close"
    allowed = "allow_unmatched_calls: true\n" + text
    assert [line.split(":")[0] for line in failures(allowed, seen(), (deviation,))] == [
        "must_call",
        "calls (strict)",
    ]
