"""Case and suite files: shapes accepted, and every mistake reported at its line with a fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_support import case

from proctor.errors import ConfigError
from proctor.evals import CaseFileError, load_case, load_suite


def problems(text: str) -> list[str]:
    with pytest.raises(CaseFileError) as raised:
        load_case("cases/bad.yaml", text=text)
    assert isinstance(raised.value, ConfigError)
    return str(raised.value).splitlines()


def test_shorthands_load_into_full_expectations() -> None:
    loaded = case(
        """
input: {vendor_id: V-1001}
expect:
  outcome: resolved
  must_call: erp.lookup_vendor
  must_not_call: [wire_transfer.create, {tool: erp.create_payment, status: ok}]
  calls: {order: superset, sequence: [ocr.parse_invoice]}
  policy: {require_rule: approval.erp.create_payment}
  final_answer: {contains: INV-1, regex: "PAY-\\\\w+"}
"""
    )
    expect = loaded.expect
    assert expect.outcome == ("resolved",)
    assert [str(p) for p in expect.must_call] == ["erp.lookup_vendor"]
    assert [str(p) for p in expect.must_not_call] == [
        "wire_transfer.create",
        "erp.create_payment [ok]",
    ]
    assert expect.order == "superset"
    assert expect.require_rules == ("approval.erp.create_payment",)
    assert expect.contains == ("INV-1",)
    assert expect.regex[0].pattern == "PAY-\\w+"
    assert loaded.id == "case"
    assert loaded.workflow == "invoice_reconciliation"


def test_yaml_syntax_errors_name_their_line() -> None:
    (line,) = problems("workflow: x\ninput:\n  a: [1, 2\nexpect: {}\n")
    assert line.startswith("cases/bad.yaml:4: invalid YAML")
    assert "Fix: " in line


def test_unknown_keys_get_a_suggestion_at_their_line() -> None:
    lines = problems(
        "workflow: x\nexpect:\n  outcom: resolved\n  calls:\n    order: inorder\n"
        "  ceilings: {tool_calls: six}\nfixtures:\n  - tool: a\n    reslt: 1\n"
    )
    assert lines == [
        "cases/bad.yaml:3: unknown key 'outcom'. Fix: did you mean 'outcome'?",
        "cases/bad.yaml:5: expect.calls.order: 'inorder' is not allowed. Fix: did you mean "
        "'in_order'?",
        "cases/bad.yaml:6: expect.ceilings.tool_calls: Input should be a valid integer, "
        "unable to parse string as an integer (got 'six'). Fix: correct the value",
        "cases/bad.yaml:9: unknown key 'reslt'. Fix: did you mean 'result'?",
    ]


def test_other_mistakes_each_have_a_fix() -> None:
    assert problems("- a\n- b\n") == [
        "cases/bad.yaml:1: a case must be a mapping at the top level, got ['a', 'b']. Fix: "
        "start the file with keys such as 'workflow:', 'input:', 'fixtures:' and 'expect:'"
    ]
    assert problems("input: {}\n") == [
        "cases/bad.yaml:1: the case names no workflow. Fix: add 'workflow: NAME' here or to "
        "suite.yaml"
    ]
    (duplicate,) = problems("workflow: x\ninput: {}\ninput: {}\n")
    assert duplicate.startswith("cases/bad.yaml:3: duplicate key 'input'")
    (regex,) = problems("workflow: x\nexpect:\n  final_answer:\n    regex: ['(']\n")
    assert regex.startswith("cases/bad.yaml:4: invalid regex '('")
    (matcher,) = problems(
        "workflow: x\nfixtures:\n  - tool: a\n    arguments:\n      amount: {min: 9, max: 1}\n"
    )
    assert matcher == "cases/bad.yaml:5: min 9 is above max 1. Fix: swap the bounds"
    (fixture_error,) = problems(
        "workflow: x\nfixtures:\n  - tool: a\n    error: {type: 'no way'}\n"
    )
    assert fixture_error.startswith("cases/bad.yaml:4: fixtures[0].error.type")


def test_a_suite_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("name: invoices\nworkflow: invoice_reconciliation\n")
    (tmp_path / "a.yaml").write_text("input: {}\nexpect: {outcome: done}\n")
    (tmp_path / "b.yaml").write_text("input: [\n")
    (tmp_path / "notes.txt").write_text("not a case")
    with pytest.raises(CaseFileError) as raised:
        load_suite(tmp_path)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path / 'a.yaml'}:2: expect.outcome[0]: 'done' is not allowed")
    assert lines[1].startswith(f"{tmp_path / 'b.yaml'}:")


def test_suite_defaults_apply_to_its_cases(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(
        "name: invoices\nworkflow: invoice_reconciliation\nmodel: scripted:hasty\n"
        "contract: ../other/contract.yaml\n"
    )
    (tmp_path / "b.yaml").write_text("input: {}\n")
    (tmp_path / "a.yaml").write_text("workflow: mine:flow\ninput: {}\n")
    suite = load_suite(tmp_path)
    assert suite.name == "invoices"
    assert suite.model == "scripted:hasty"
    assert suite.contract == (tmp_path.parent / "other" / "contract.yaml").resolve()
    assert [(c.id, c.workflow) for c in suite.cases] == [
        ("a", "mine:flow"),
        ("b", "invoice_reconciliation"),
    ]
    one = load_suite(tmp_path / "b.yaml")  # a single case file is a suite of one
    assert [c.id for c in one.cases] == ["b"]


def test_a_missing_or_empty_suite_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match=r"no such suite folder or case file\. Fix: pass"):
        load_suite(tmp_path / "nope")
    with pytest.raises(CaseFileError, match="holds no case files"):
        load_suite(tmp_path)
    (tmp_path / "suite.yaml").write_text("nmae: x\n")
    (tmp_path / "a.yaml").write_text("workflow: x\n")
    with pytest.raises(
        CaseFileError, match=r"suite\.yaml:1: unknown key 'nmae'\. Fix: did you mean"
    ):
        load_suite(tmp_path)
