"""``pytest --proctor-suite DIR``: each case one item; a failure shows its first expectation."""

from __future__ import annotations

import shutil

import pytest
from eval_support import SHIPPED_SUITE

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _quiet_inner_sessions(pytester: pytest.Pytester) -> None:
    # The inner sessions need neither pytest-asyncio, hypothesis (re-imported per session:
    # half a second) nor a cache directory.
    pytester.makeini(
        "[pytest]\naddopts = -p no:asyncio -p no:hypothesispytest -p no:cacheprovider\n"
    )


def test_each_case_is_an_item_and_failures_show_the_first_expectation(
    pytester: pytest.Pytester,
) -> None:
    suite = pytester.path / "suite"
    shutil.copytree(SHIPPED_SUITE, suite)
    broken = (
        (suite / "clean.yaml")
        .read_text()
        .replace("    contains: INV-2026-0042", "    contains: INV-9999")
    )
    (suite / "clean.yaml").write_text(broken)
    ran = pytester.runpytest("--proctor-suite", str(suite), "--proctor-recorded")
    ran.assert_outcomes(passed=5, failed=1)
    ran.stdout.fnmatch_lines(
        [
            "*suite/clean.yaml: final_answer: does not contain 'INV-9999'",
            "*outcome resolved; calls: ocr.parse_invoice, erp.lookup_vendor, erp.fetch_po, "
            "policy.check_thresholds, erp.create_payment",
            "FAILED suite/clean.yaml::clean*",
        ]
    )
    hasty = pytester.runpytest("--proctor-suite", str(suite), "--proctor-model", "scripted:hasty")
    hasty.assert_outcomes(failed=6)
    hasty.stdout.fnmatch_lines(["*diverged from the recording at call 4: recorded policy*"])


def test_a_malformed_suite_is_a_collection_error_with_its_line(pytester: pytest.Pytester) -> None:
    suite = pytester.path / "suite"
    suite.mkdir()
    (suite / "a.yaml").write_text("workflow: invoice_reconciliation\nexpect: {outcom: resolved}\n")
    ran = pytester.runpytest("--proctor-suite", str(suite))
    ran.assert_outcomes(errors=1)
    ran.stdout.fnmatch_lines(["*a.yaml:2: unknown key 'outcom'. Fix: did you mean 'outcome'?*"])


def test_without_the_option_nothing_is_collected(pytester: pytest.Pytester) -> None:
    shutil.copytree(SHIPPED_SUITE, pytester.path / "suite")
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_suite_alone_is_collected_not_the_projects_tests(pytester: pytest.Pytester) -> None:
    shutil.copytree(SHIPPED_SUITE, pytester.path / "suite")
    # A project's own test module that cannot even be imported here.
    pytester.makepyfile(test_broken="import not_installed_anywhere\n")
    ran = pytester.runpytest("--proctor-suite", str(pytester.path / "suite"), "--co", "-q")
    assert ran.ret == 0, ran.stdout.str()
    assert "not_installed_anywhere" not in ran.stdout.str()
    assert "test_broken" not in ran.stdout.str()
    both = pytester.runpytest("--proctor-suite", "suite", "test_broken.py", "--co", "-q")
    assert "not_installed_anywhere" in both.stdout.str()  # asked for: collected, and fails
