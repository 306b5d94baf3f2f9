"""Result files (kept under the Proctor home, read back for diffs) and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from proctor.errors import ConfigError
from proctor.evals import (
    CaseResult,
    FailureRecord,
    SuiteResult,
    junit_xml,
    load_result,
    results_dir,
    save_result,
)


def sample() -> SuiteResult:
    return SuiteResult(
        suite="invoice",
        path="evals/invoice",
        mode="recorded",
        started_at=1_790_000_000.0,
        duration_s=0.25,
        cases=[
            CaseResult(
                id="clean",
                file="evals/invoice/clean.yaml",
                passed=True,
                outcome="resolved",
                calls=["ocr.parse_invoice", "erp.create_payment"],
                duration_ms=1.5,
            ),
            CaseResult(
                id="hasty",
                file="evals/invoice/hasty.yaml",
                passed=False,
                outcome="escalated",
                failures=[
                    FailureRecord(
                        expectation="outcome", message="expected resolved, got escalated"
                    ),
                    FailureRecord(expectation="policy", message="violation <ordering> & more"),
                ],
                deviations=["call 2: no fixture for x; closest is fixture 1"],
                divergence="call 4: recorded a {}, replayed b {}",
            ),
            CaseResult(
                id="broken",
                file="evals/invoice/broken.yaml",
                passed=False,
                error="UsageError: no recorded responses",
            ),
        ],
    )


def test_junit_xml_parses_back_with_one_testcase_per_case() -> None:
    root = ET.fromstring(junit_xml(sample()))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors")} == {
        "name": "invoice",
        "tests": "3",
        "failures": "1",
        "errors": "1",
    }
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["clean", "hasty", "broken"]
    assert cases["clean"].find("failure") is None
    assert cases["clean"].get("classname") == "proctor.eval.invoice"
    failure = cases["hasty"].find("failure")
    assert failure is not None
    assert failure.get("message") == "outcome: expected resolved, got escalated"
    assert failure.get("type") == "outcome"
    assert (failure.text or "").splitlines() == [
        "outcome: expected resolved, got escalated",
        "policy: violation <ordering> & more",
        "deviation: call 2: no fixture for x; closest is fixture 1",
        "diverged from the recording at call 4: recorded a {}, replayed b {}",
    ]
    error = cases["broken"].find("error")
    assert error is not None
    assert error.get("message") == "UsageError: no recorded responses"
    out = cases["clean"].find("system-out")
    assert out is not None
    assert "calls: ocr.parse_invoice, erp.create_payment" in (out.text or "")


def test_results_are_kept_under_the_home_and_read_back(proctor_home: Path) -> None:
    result = sample()
    path = save_result(result)
    assert path.parent == results_dir() == proctor_home / "eval-results"
    assert path.name.startswith("2026")
    assert path.name.endswith("-invoice.json")
    loaded = load_result(path)
    assert loaded == result
    assert (loaded.passed, loaded.failed, loaded.errors, loaded.ok) == (1, 2, 1, False)
    assert loaded.cases[1].first_failure == "outcome: expected resolved, got escalated"
    assert loaded.cases[2].first_failure == "error: UsageError: no recorded responses"
    assert json.loads(path.read_text())["format_version"] == 1


def test_bad_result_files_are_refused_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the result file"):
        load_result(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"suite": "x"}')
    with pytest.raises(ConfigError, match=r"wrong\.json: not a Proctor eval result"):
        load_result(wrong)
    newer = tmp_path / "newer.json"
    newer.write_text(sample().model_copy(update={"format_version": 99}).model_dump_json())
    with pytest.raises(ConfigError, match="format 99 is newer than this Proctor reads"):
        load_result(newer)
