"""``proctor eval`` end to end: capture, run (the CI gate's exit codes), JUnit, diff."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_harness import cli_env, proctor, proctor_all

from proctor.examples import invoice

pytestmark = pytest.mark.slow

SHIPPED_SUITE = Path(invoice.__file__).parent / "evals"


def test_capture_run_and_diff_with_the_exit_codes_ci_relies_on(
    proctor_home: Path, tmp_path: Path
) -> None:
    env = cli_env(proctor_home)
    sample = tmp_path / "clean.json"
    sample.write_text(json.dumps(invoice.sample_input("clean")))
    started = proctor("run", "invoice_reconciliation", "--input", str(sample), "--json", env=env)
    run_id = started.json()["run_id"]
    suite = tmp_path / "suite"
    captured = proctor("eval", "capture", run_id, "--suite", str(suite), env=env)
    assert captured.code == 0, str(captured)
    assert f"wrote {suite / run_id}.yaml: 5 fixture(s), 6 model response(s)" in captured.out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("workflow: invoice_reconciliation\nexpect:\n  outcom: resolved\n")
    junit, first, second = tmp_path / "report.xml", tmp_path / "r1.json", tmp_path / "r2.json"

    recorded = ("eval", "run", str(suite), "--recorded", "--only-failures")
    passed, hasty, missing, malformed, conflict, unknown, printed = proctor_all(
        [
            (*recorded, "--junit", str(junit), "-o", str(first)),
            ("eval", "run", str(SHIPPED_SUITE), "--model", "scripted:hasty", "-o", str(second)),
            ("eval", "run", str(tmp_path / "nope")),
            ("eval", "run", str(bad)),
            ("eval", "run", str(suite), "--recorded", "--model", "scripted:hasty"),
            ("eval", "capture", "run_0000000000000000"),
            ("eval", "capture", run_id),
        ],
        env=env,
    )
    assert passed.code == 0, str(passed)
    assert "1/1 passed, all passed (recorded" in passed.out
    assert "1 case(s), 0 failed" in passed.out
    assert run_id not in passed.out  # --only-failures: the passing case is not listed
    assert f"results: {first}" in passed.out
    assert hasty.code == 1, str(hasty)
    assert "0/6 passed, 6 failed (live" in hasty.out
    assert "FAIL" in hasty.out
    assert "outcome: expected resolved, got escalated" in hasty.out
    assert missing.code == 2, str(missing)
    assert "no such suite folder or case file" in missing.err
    assert malformed.code == 2, str(malformed)
    assert malformed.err.strip() == (
        f"usage error: {bad / 'x.yaml'}:3: unknown key 'outcom'. Fix: did you mean 'outcome'?"
    )
    assert conflict.code == 2, str(conflict)
    assert "choose one: --recorded replays the recording, --model a live model" in conflict.err
    assert unknown.code == 1, str(unknown)
    assert unknown.err.startswith("error: no run 'run_0000000000000000'")
    assert printed.code == 0
    assert printed.out.startswith("# A Proctor eval case, captured from run")

    root = ET.parse(junit).getroot()
    (case,) = root.iter("testcase")
    assert case.get("name") == run_id
    assert case.find("failure") is None
    assert root.get("tests") == "1"
    assert root.get("failures") == "0"
    assert json.loads(first.read_text())["cases"][0]["passed"] is True
    assert [c["passed"] for c in json.loads(second.read_text())["cases"]] == [False] * 6

    same, worse, absent = proctor_all(
        [
            ("eval", "diff", str(first), str(first)),
            ("eval", "diff", str(first), str(second), "--json"),
            ("eval", "diff", str(first), str(tmp_path / "none.json")),
        ],
        env=env,
    )
    assert same.code == 0, str(same)
    assert "no flagged change" in same.out
    assert worse.code == 1, str(worse)
    report = worse.json()
    assert report["flagged"] is True
    assert report["metrics"][0] == {
        "name": "pass rate",
        "baseline": 1.0,
        "candidate": 0.0,
        "change": -1.0,
        "flagged": True,
    }
    assert absent.code == 2, str(absent)
    assert "cannot read the result file" in absent.err
    assert invoice.payments_count() == 1  # the recorded run's payment; no replay paid


def test_results_are_stored_listed_and_compared_by_id(proctor_home: Path) -> None:
    env = cli_env(proctor_home)
    recorded = proctor("eval", "run", str(SHIPPED_SUITE), "--recorded", env=env)
    hasty = proctor("eval", "run", str(SHIPPED_SUITE), "--model", "scripted:hasty", env=env)
    assert recorded.code == 0, str(recorded)
    assert hasty.code == 1, str(hasty)
    stored = re.compile(r"results: (\S+), stored as (evr_[0-9a-f]{16})$", re.MULTILINE)
    first_match, second_match = stored.search(recorded.out), stored.search(hasty.out)
    assert first_match is not None, str(recorded)
    assert second_match is not None, str(hasty)
    first_file, first = first_match.groups()
    second = second_match.group(2)
    assert Path(first_file).parent == proctor_home / "eval-results"  # the file is still written
    assert json.loads(Path(first_file).read_text())["result_id"] == first

    listed, as_json, by_ids, by_prefix, relative, mixed, ambiguous, unknown = proctor_all(
        [
            ("eval", "results"),
            ("eval", "results", "invoice", "--json"),
            ("eval", "diff", first, second, "--json"),
            ("eval", "diff", first[:12], second[4:14]),
            ("eval", "diff", "previous", "latest", "--suite", "invoice", "--json"),
            ("eval", "diff", first_file, "latest", "--suite", "invoice", "--json"),
            ("eval", "diff", "evr_", "latest", "--suite", "invoice"),
            ("eval", "diff", first, "evr_ffffffffffff", "--suite", "invoice"),
        ],
        env=env,
    )
    assert listed.code == 0, str(listed)
    assert "2 eval result(s), newest first" in listed.out
    assert listed.out.index(second) < listed.out.index(first)
    assert "0/6, 6 failed" in listed.out
    assert "scripted:hasty" in listed.out
    assert as_json.code == 0, str(as_json)
    rows = as_json.json()["results"]  # as GET /api/v1/evals answers
    assert [row["result_id"] for row in rows] == [second, first]
    assert rows[0]["created_at"].endswith("Z")
    assert [(row["suite"], row["cases"], row["passed"], row["failed"]) for row in rows] == [
        ("invoice", 6, 0, 6),
        ("invoice", 6, 6, 0),
    ]
    assert rows[0]["workflow"] == "invoice_reconciliation"
    assert rows[0]["model"] == "scripted:hasty"
    assert len(rows[0]["contract_hash"]) == 64
    for ran in (by_ids, relative, mixed):
        assert ran.code == 1, str(ran)  # the pass rate dropped: flagged
        report = ran.json()
        assert (report["baseline_result_id"], report["candidate_result_id"]) == (first, second)
        assert report["metrics"][0]["baseline"] == 1.0
        assert report["metrics"][0]["candidate"] == 0.0
    assert by_prefix.code == 1, str(by_prefix)
    assert f"{first} -> {second}" in by_prefix.out
    assert ambiguous.code == 2, str(ambiguous)
    assert ambiguous.err.strip() == (
        "usage error: 'evr_' is ambiguous: it starts 2 stored eval results of suite 'invoice' "
        f"({second}, {first}); give more characters"
    )
    assert unknown.code == 1, str(unknown)
    assert unknown.err.strip() == (
        "error: no stored eval result of suite 'invoice' has an id starting with "
        "'evr_ffffffffffff'; list them with `proctor eval results`, or pass a result file's path"
    )
