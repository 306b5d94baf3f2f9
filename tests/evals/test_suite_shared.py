"""What a suite's cases share: fixtures, default expectations, fixture files, free-text
arguments; and the natural order of case ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.evals import CaseFileError, load_suite


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


SUITE = """
workflow: invoice_reconciliation
ignore_arguments: {mail.send: [body]}
fixtures:
  - tool: erp.lookup_vendor
    arguments: {}
    result: {status: active}
expect:
  outcome: resolved
  counts: {call: erp.create_payment, at_most: 1}
"""


def test_cases_share_the_suites_fixtures_and_defaults(tmp_path: Path) -> None:
    write(tmp_path, "suite.yaml", SUITE)
    write(tmp_path, "shared/po.yaml", "fixtures: [{tool: erp.fetch_po, result: {po: 1}}]\n")
    write(
        tmp_path,
        "case-10.yaml",
        """
include: [shared/po.yaml]
fixtures: [{tool: mail.send, arguments: {to: a@example.com, body: Hello}, result: sent}]
expect: {outcome: escalated}
""",
    )
    write(tmp_path, "case-2.yaml", "include: [shared/po.yaml]\n")
    suite = load_suite(tmp_path)
    assert [c.id for c in suite.cases] == ["case-2", "case-10"]  # natural order
    two, ten = suite.cases
    assert [f.pattern.tool for f in ten.fixtures] == [
        "mail.send",
        "erp.fetch_po",
        "erp.lookup_vendor",
    ]
    assert [f.where for f in ten.fixtures] == [
        "fixture 1 (line 3)",
        "fixture 1 of shared/po.yaml (line 1)",
        "fixture 1 of suite.yaml (line 5)",
    ]
    assert [f.pattern.tool for f in two.fixtures] == ["erp.fetch_po", "erp.lookup_vendor"]
    assert two.fixtures[1].pattern is ten.fixtures[2].pattern  # compiled once for the suite
    # The case's own outcome replaces the suite's; the suite's counts stay.
    assert (two.expect.outcome, ten.expect.outcome) == (("resolved",), ("escalated",))
    assert len(ten.expect.counts) == 1
    # The suite says mail bodies are free text: the fixture answers any body.
    mail = ten.fixtures[0].pattern
    assert mail.matches("mail.send", {"to": "a@example.com", "body": "Other text"}, {})
    assert not mail.matches("mail.send", {"to": "b@example.com", "body": "Hello"}, {})


def test_a_missing_or_broken_fixture_file_is_named_once(tmp_path: Path) -> None:
    write(tmp_path, "suite.yaml", "workflow: invoice_reconciliation\n")
    write(tmp_path, "shared/bad.yaml", "fixtures: [{tool: x, resul: 1}]\n")
    for n in range(3):
        write(tmp_path, f"c{n}.yaml", "include: [shared/bad.yaml, nowhere.yaml]\n")
    with pytest.raises(CaseFileError) as raised:
        load_suite(tmp_path / "c0.yaml")
    text = str(raised.value)
    assert "nowhere.yaml: no such fixture file" in text
    assert "unknown key 'resul'" in text
    with pytest.raises(CaseFileError) as whole:
        load_suite(tmp_path)
    assert str(whole.value).count("no such fixture file") == 1  # read once, said once
    assert str(whole.value).count("unknown key 'resul'") == 1
