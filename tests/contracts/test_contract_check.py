"""`contract check`: registry-aware problems, and CEL conditions compiled once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from proctor.contracts import (
    CompiledCondition,
    ConditionError,
    ContractProblem,
    check_contract_file,
    compile_condition,
)
from proctor.errors import ConfigError, ProctorError
from proctor.tools import Registry, tool


@tool("erp.fetch_po")
def fetch_po(po_number: str) -> dict[str, str]:
    """Fetch a purchase order."""
    return {"po_number": po_number}


@tool("erp.create_payment", effect="write")
def create_payment(vendor_id: str, amount: float) -> dict[str, str]:
    """Pay a vendor."""
    return {"vendor_id": vendor_id}


@tool("policy.check_thresholds")
def check_thresholds(amount: float) -> bool:
    """Check payment thresholds."""
    return amount < 10_000


REGISTRY = Registry([fetch_po, create_payment, check_thresholds])


def _registry_for(workflow: str) -> Registry | None:
    return REGISTRY if workflow in {"payments", "invoice_reconciliation"} else None


def _check(tmp_path: Path, text: str, known: tuple[str, ...] = ()) -> list[ContractProblem]:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    return check_contract_file(path, _registry_for, known_workflows=known)


def _lines(problems: list[ContractProblem]) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in problems]


VALID = """\
workflow: payments
allowed_tools: [erp.fetch_po, policy.check_thresholds, erp.create_payment]
required_steps: [erp.fetch_po, policy.check_thresholds]
ordering:
  - tool: erp.create_payment
    after: [policy.check_thresholds]
approvals:
  - tool: erp.create_payment
    when: args.amount > 10000 && state.tool_calls < 5
"""


# --- conditions -------------------------------------------------------------------


def test_condition_true_and_false() -> None:
    condition = compile_condition("args.amount > 10000")

    assert isinstance(condition, CompiledCondition)
    assert condition.evaluate({"amount": 20_000}, {}, {}) is True
    assert condition.evaluate({"amount": 500}, {}, {}) is False
    assert condition.evaluate({"amount": 10_000.5}, {}, {}) is True


def test_condition_reads_input_and_state() -> None:
    condition = compile_condition(
        "input.vendor == 'acme' && 'erp.fetch_po' in state.succeeded"
        " && args.lines.all(line, line.qty > 0)"
    )

    args = {"lines": [{"qty": 1}, {"qty": 2}]}
    assert condition.evaluate(args, {"vendor": "acme"}, {"succeeded": ["erp.fetch_po"]})
    assert not condition.evaluate(args, {"vendor": "other"}, {"succeeded": ["erp.fetch_po"]})


def test_missing_key_is_a_condition_error() -> None:
    condition = compile_condition("args.amount > 10000")

    with pytest.raises(ConditionError, match=r"key 'amount' is missing .*has\(") as caught:
        condition.evaluate({}, {}, {})
    assert isinstance(caught.value, ProctorError)


def test_has_guards_an_optional_key() -> None:
    condition = compile_condition("has(args.amount) && args.amount > 10")

    assert condition.evaluate({}, {}, {}) is False


@pytest.mark.parametrize(
    ("expr", "args", "match"),
    [
        ("args.amount > 10000", {"amount": "lots"}, "No such overload"),
        ("args.amount", {"amount": 3}, r"gave 3 \(int\), not true or false"),
        ("args.a / args.b > 1", {"a": 1, "b": 0}, "division by zero"),
    ],
)
def test_evaluation_failures_are_condition_errors(
    expr: str, args: dict[str, object], match: str
) -> None:
    with pytest.raises(ConditionError, match=match):
        compile_condition(expr).evaluate(args, {}, {})


def test_syntax_error_is_a_config_error_with_the_column() -> None:
    with pytest.raises(ConfigError, match=r"cannot compile condition 'args\.amount >'.*column 14"):
        compile_condition("args.amount >")


@pytest.mark.parametrize(
    ("expr", "name", "hint"),
    [
        ("foo.x == 1", "foo", ""),
        ("arg.amount > 1", "arg", " (did you mean 'args'?)"),
        ("args.x == 1 && sate.y", "sate", " (did you mean 'state'?)"),
    ],
)
def test_unknown_roots_are_refused(expr: str, name: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_condition(expr)

    assert str(caught.value) == (
        f"unknown variable {name!r} in condition {expr!r}; "
        f"this condition may use args, input, state, calls, scopes, tool{hint}"
    )


def test_empty_condition_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty"):
        compile_condition("  ")


def test_compiled_once_and_fast() -> None:
    condition = compile_condition("args.amount > 10000")
    assert compile_condition("args.amount > 10000") is condition  # cached by source

    args: dict[str, object] = {"amount": 5}
    runs = 2000
    start = time.perf_counter()
    for _ in range(runs):
        condition.evaluate(args, {}, {})
    per_call = (time.perf_counter() - start) / runs
    # A few microseconds in practice; the bound only catches re-parsing per call.
    assert per_call < 500e-6


# --- check_contract_file ----------------------------------------------------------


def test_valid_contract_has_no_problems(tmp_path: Path) -> None:
    assert _check(tmp_path, VALID) == []


def test_unknown_tool_is_reported_at_its_line(tmp_path: Path) -> None:
    text = VALID.replace("required_steps: [erp.fetch_po,", "required_steps: [erp.fetch_p0,")
    text = text.replace("allowed_tools: [erp.fetch_po,", "allowed_tools: [erp.fetch_p0,")

    problems = _check(tmp_path, text)

    assert [str(p) for p in problems] == [
        f"{tmp_path / 'contract.yaml'}:2: tool 'erp.fetch_p0' in allowed_tools is not "
        "registered for workflow 'payments'. Fix: did you mean 'erp.fetch_po'?",
        f"{tmp_path / 'contract.yaml'}:3: tool 'erp.fetch_p0' in required_steps is not "
        "registered for workflow 'payments'. Fix: did you mean 'erp.fetch_po'?",
    ]


def test_unknown_tools_everywhere_are_all_reported(tmp_path: Path) -> None:
    text = """\
workflow: payments
forbidden_tools:
  - wire_transfer.create
ordering:
  - tool: erp.pay
    after:
      - policy.check
approvals:
  - tool: zzz.qqq
"""
    problems = _check(tmp_path, text)

    unregistered = "is not registered for workflow 'payments'"
    assert _lines(problems) == [
        (3, f"tool 'wire_transfer.create' in forbidden_tools {unregistered}"),
        (5, f"tool 'erp.pay' in ordering[0].tool {unregistered}"),
        (7, f"tool 'policy.check' in ordering[0].after {unregistered}"),
        (9, f"tool 'zzz.qqq' in approvals[0].tool {unregistered}"),
    ]
    assert problems[3].fix.startswith("registered tools: erp.create_payment, erp.fetch_po")


def test_article_dialect_unknown_tool_points_at_the_task_step(tmp_path: Path) -> None:
    text = """\
agent:
  max_tool_calls: 6
  disallowed_tools: [erp.create_payment]
  required_steps_for_task:
    invoice_reconciliation:
      - erp.fetch_po
      - ocr.parse_invoice
"""
    problems = _check(tmp_path, text)

    assert _lines(problems) == [
        (
            7,
            "tool 'ocr.parse_invoice' in agent.required_steps_for_task.invoice_reconciliation "
            "is not registered for workflow 'invoice_reconciliation'",
        )
    ]


def test_unknown_workflow_suggests_known_ones(tmp_path: Path) -> None:
    problems = _check(tmp_path, "workflow: paymnets\n", known=("payments", "triage"))

    assert _lines(problems) == [(1, "no workflow named 'paymnets' is registered")]
    assert problems[0].fix == "did you mean 'payments'?"
    assert _check(tmp_path, "workflow: x\n", known=("payments", "triage"))[0].fix == (
        "registered workflows: payments, triage"
    )
    assert "register the workflow" in _check(tmp_path, "workflow: x\n")[0].fix


def test_article_workflows_are_checked_one_by_one(tmp_path: Path) -> None:
    text = """\
agent:
  required_steps_for_task:
    payments: [erp.fetch_po]
    nobody: [erp.fetch_po]
"""
    assert _lines(_check(tmp_path, text)) == [(4, "no workflow named 'nobody' is registered")]


def test_bad_condition_is_reported_at_its_when(tmp_path: Path) -> None:
    text = VALID.replace("args.amount > 10000 && state.tool_calls < 5", "args.amount >> 3")

    problems = _check(tmp_path, text)

    assert len(problems) == 1
    assert problems[0].line == 9
    assert problems[0].message.startswith("cannot compile condition 'args.amount >> 3'")


def test_condition_reading_an_argument_the_tool_lacks(tmp_path: Path) -> None:
    text = VALID.replace("args.amount > 10000", "args.amout > 10000")

    problems = _check(tmp_path, text)

    assert _lines(problems) == [
        (9, "condition reads args.amout, but erp.create_payment has no argument 'amout'")
    ]
    assert problems[0].fix == "did you mean 'amount'?"


def test_structural_and_registry_problems_come_together_in_line_order(tmp_path: Path) -> None:
    text = """\
workflow: payments
limits:
  max_tool_call: 3
required_steps: [erp.fetch, policy.check_thresholds]
approvals:
  - tool: erp.create_payment
    when: amount > 1
"""
    problems = _check(tmp_path, text)

    assert _lines(problems) == [
        (3, "unknown key 'max_tool_call' in limits"),
        (4, "tool 'erp.fetch' in required_steps is not registered for workflow 'payments'"),
        (7, "unknown variable 'amount' in condition 'amount > 1'"),
    ]


def test_unreadable_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    problems = check_contract_file(tmp_path / "missing.yaml", _registry_for)

    assert len(problems) == 1
    assert problems[0].line is None
    assert problems[0].message == "contract file not found"


def test_yaml_syntax_error_is_a_problem(tmp_path: Path) -> None:
    problems = _check(tmp_path, "workflow: payments\nlimits: {max_tool_calls: 6\n")

    assert [p.line for p in problems] == [3]
    assert problems[0].message.startswith("invalid YAML")


# --- the data-flow keys: rules, trust, scopes, final, ordering's new keys ---------------


class Vendor(BaseModel):
    vendor_id: str
    iban: str
    contacts: list[str]


@tool("erp.lookup_vendor")
def lookup_vendor(vendor_id: str) -> Vendor:
    """Look up a vendor."""
    return Vendor(vendor_id=vendor_id, iban="DE00", contacts=[])


@tool("mail.read")
def read_mail(folder: str) -> dict[str, Any]:
    """Read mail."""
    return {"folder": folder}


FLOW_REGISTRY = Registry([fetch_po, create_payment, check_thresholds, lookup_vendor, read_mail])


def _check_flow(tmp_path: Path, text: str) -> list[ContractProblem]:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    return check_contract_file(path, lambda name: FLOW_REGISTRY if name == "payments" else None)


FLOW = """\
workflow: payments
default: deny
trust:
  tools:
    erp.lookup_vendor: {default: untrusted, fields: {iban: trusted, contacts: trusted}}
    mail.read: {fields: {sender: trusted}}
scopes:
  accounts: ibans(input.request)
ordering:
  - {tool: erp.create_payment, after: [erp.fetch_po], any_of: [erp.lookup_vendor]}
  - {tool: "*", not_after: [erp.create_payment], id: terminal}
  - {tool: erp.create_payment, at_most: 1, same: vendor_id, after: [erp.lookup_vendor]}
rules:
  - allow: "*"
  - deny: [erp.create_payment]
    when: '!from_tool(args.vendor_id, "erp.lookup_vendor") || args.vendor_id in scopes.accounts'
  - deny: [erp.fetch_po, erp.create_payment]
    when: has(args.amount) && args.amount > 10 && count("*", 60) > 3
  - deny: erp.create_payment
    when: sum("erp.create_payment", "args.amount") + args.amount > 100 || last("mail.read") != null
  - deny: erp.create_payment
    when: exists_call("erp.create_payment", call.args.vendor_id == args.vendor_id)
final:
  - when: count("erp.create_payment") == 0 && "refund" in text && size(scopes.accounts) > 0
credentials:
  tools:
    erp.create_payment:
      actions: [payment.create]
      resources: ["account:{scopes.accounts}"]
      enforce: "account:{args.vendor_id}"
"""


def test_the_data_flow_keys_of_a_valid_contract_have_no_problems(tmp_path: Path) -> None:
    assert _check_flow(tmp_path, FLOW) == []


def test_tools_named_by_the_new_keys_must_be_registered(tmp_path: Path) -> None:
    text = """\
workflow: payments
trust:
  tools:
    erp.lookup_vendr: trusted
ordering:
  - tool: erp.create_payment
    any_of: [erp.fetch_p0]
    not_after: [erp.create_paymnt]
rules:
  - deny: [erp.fetch_po, erp.crate_payment]
  - allow: mail.raed
  - deny: erp.create_payment
    when: '!from_tool(args.vendor_id, "erp.lookup_vendr") && count("erp.fech_po") > 0'
final:
  - when: last("mail.reed") != null && exists_call("erp.create_paymnt", true)
"""
    problems = _check_flow(tmp_path, text)

    unregistered = "is not registered for workflow 'payments'"
    assert _lines(problems) == [
        (4, f"tool 'erp.lookup_vendr' in trust.tools {unregistered}"),
        (7, f"tool 'erp.fetch_p0' in ordering[0].any_of {unregistered}"),
        (8, f"tool 'erp.create_paymnt' in ordering[0].not_after {unregistered}"),
        (10, f"tool 'erp.crate_payment' in rules[0].deny {unregistered}"),
        (11, f"tool 'mail.raed' in rules[1].allow {unregistered}"),
        (
            13,
            "tool 'erp.lookup_vendr' in rules[2].when (from_tool(\"erp.lookup_vendr\")) "
            + unregistered,
        ),
        (13, f"tool 'erp.fech_po' in rules[2].when (count(\"erp.fech_po\")) {unregistered}"),
        (15, f"tool 'mail.reed' in final[0].when (last(\"mail.reed\")) {unregistered}"),
        (
            15,
            "tool 'erp.create_paymnt' in final[0].when (exists_call(\"erp.create_paymnt\")) "
            + unregistered,
        ),
    ]
    assert [p.fix for p in problems] == [
        "did you mean 'erp.lookup_vendor'?",
        "did you mean 'erp.fetch_po'?",
        "did you mean 'erp.create_payment'?",
        "did you mean 'erp.create_payment'?",
        "did you mean 'mail.read'?",
        "did you mean 'erp.lookup_vendor'?",
        "did you mean 'erp.fetch_po'?",
        "did you mean 'mail.read'?",
        "did you mean 'erp.create_payment'?",
    ]


def test_every_tool_is_understood_only_where_it_means_something(tmp_path: Path) -> None:
    text = """\
workflow: payments
approvals:
  - tool: "*"
rules:
  - deny: erp.create_payment
    when: from_tool(args.vendor_id, "*") && 'count("nope")' != ""
"""
    problems = _check_flow(tmp_path, text)

    assert _lines(problems) == [
        (3, "tool '*' in approvals[0].tool is not registered for workflow 'payments'"),
        (
            6,
            "tool '*' in rules[0].when (from_tool(\"*\")) is not registered for workflow "
            "'payments'",
        ),
    ]
    assert problems[0].fix == (
        "'*' (every tool) is understood only in ordering[].tool, a rule's deny or allow, and "
        "count, sum and last; name the tools one by one"
    )


def test_rule_conditions_read_arguments_of_the_tools_they_name(tmp_path: Path) -> None:
    text = """\
workflow: payments
rules:
  - deny: erp.create_payment
    when: args.amout > 10
  - deny: [erp.fetch_po, erp.create_payment]
    when: args.amount > 10
  - deny: [erp.fetch_po, erp.create_payment]
    when: has(args.amount) && args.amount > 10
  - deny: [erp.fetch_po, mail.read]
    when: args.amount > 10
  - deny: "*"
    when: args.anything > 10
"""
    problems = _check_flow(tmp_path, text)

    assert _lines(problems) == [
        (4, "condition reads args.amout, but erp.create_payment has no argument 'amout'"),
        (6, "condition reads args.amount, but erp.fetch_po has no argument 'amount'"),
        (
            10,
            "condition reads args.amount, but none of erp.fetch_po, mail.read has an argument "
            "'amount'",
        ),
    ]
    assert [p.fix for p in problems] == [
        "did you mean 'amount'?",
        "guard the read with has(args.amount), or name only tools that take it",
        "registered arguments: folder, po_number",
    ]


def test_ordering_same_and_function_fields_are_arguments(tmp_path: Path) -> None:
    text = """\
workflow: payments
ordering:
  - tool: erp.create_payment
    after: [erp.fetch_po]
    same: args.vendorid
  - {tool: erp.create_payment, after: [erp.fetch_po], same: vendor_id}
rules:
  - deny: erp.create_payment
    when: sum("erp.create_payment", "amout") > 100
  - deny: erp.create_payment
    when: exists_call("erp.fetch_po", call.args.po == "x")
"""
    problems = _check_flow(tmp_path, text)

    assert _lines(problems) == [
        (
            5,
            "ordering[0].same compares argument 'vendorid' between calls, but "
            "erp.create_payment has no argument 'vendorid'",
        ),
        (
            5,
            "ordering[0].same compares argument 'vendorid' between calls, but erp.fetch_po "
            "has no argument 'vendorid'",
        ),
        (
            6,
            "ordering[1].same compares argument 'vendor_id' between calls, but erp.fetch_po "
            "has no argument 'vendor_id'",
        ),
        (
            9,
            'sum("erp.create_payment", "amout") adds up argument \'amout\', but '
            "erp.create_payment has no argument 'amout'",
        ),
        (
            11,
            'exists_call("erp.fetch_po", ...) reads call.args.po, but erp.fetch_po has no '
            "argument 'po'",
        ),
    ]
    assert [p.fix for p in problems] == [
        "did you mean 'vendor_id'?",
        "move erp.fetch_po to a rule without same, or compare an argument every tool of the "
        "rule takes (erp.fetch_po takes po_number)",
        "move erp.fetch_po to a rule without same, or compare an argument every tool of the "
        "rule takes (erp.fetch_po takes po_number)",
        "did you mean 'amount'?",
        "registered arguments: po_number",
    ]


def test_scopes_read_must_be_declared_and_enforce_reads_arguments(tmp_path: Path) -> None:
    text = """\
workflow: payments
scopes:
  accounts: ibans(input.request)
rules:
  - deny: erp.create_payment
    when: '!(args.vendor_id in scopes.acounts)'
final:
  - when: size(scopes["recipients"]) > 0
credentials:
  tools:
    erp.create_payment:
      actions: [payment.create]
      resources: ["vendor:{input.vendor_id}", "account:{scopes.ibans}"]
      enforce: "vendor:{args.vendor}"
"""
    problems = _check_flow(tmp_path, text)

    assert _lines(problems) == [
        (6, "condition reads scopes.acounts, but the contract declares no scope 'acounts'"),
        (8, "condition reads scopes.recipients, but the contract declares no scope 'recipients'"),
        (
            13,
            "resource pattern 'account:{scopes.ibans}' reads scopes.ibans, but the contract "
            "declares no scope 'ibans'",
        ),
        (
            14,
            "enforce 'vendor:{args.vendor}' reads args.vendor, but erp.create_payment has no "
            "argument 'vendor'",
        ),
    ]
    assert [p.fix for p in problems] == [
        "did you mean 'accounts'?",
        "declared scopes: accounts",
        "declared scopes: accounts",
        "did you mean 'vendor_id'?",
    ]
    no_scopes = _check_flow(tmp_path, "workflow: x\nfinal:\n  - when: size(scopes.to) > 0\n")
    assert [p.fix for p in no_scopes if "scope" in p.message] == [
        "declare it: scopes: {to: <CEL over input>}"
    ]


def test_trust_field_paths_are_result_fields_where_the_return_type_names_them(
    tmp_path: Path,
) -> None:
    text = """\
workflow: payments
trust:
  tools:
    erp.lookup_vendor:
      fields:
        iban: trusted
        contact.email: trusted
        contacts: trusted
    mail.read: {fields: {anything.at_all: trusted}}
"""
    problems = _check_flow(tmp_path, text)

    assert _lines(problems) == [
        (7, "trust field 'contact.email' of erp.lookup_vendor: its results have no field 'contact'")
    ]
    assert problems[0].fix == "did you mean 'contacts'?"
