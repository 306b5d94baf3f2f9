"""Comparing two result files: figures, per-tool distributions, flags and thresholds."""

from __future__ import annotations

import pytest

from proctor.evals import CaseResult, DiffThresholds, SuiteResult, diff_results


def result(*cases: CaseResult) -> SuiteResult:
    return SuiteResult(suite="invoice", path="s", mode="live", cases=list(cases))


def run(
    case_id: str, passed: bool, tools: list[str], cost: float | None, outcome: str = "resolved"
) -> CaseResult:
    return CaseResult(
        id=case_id,
        file=f"{case_id}.yaml",
        passed=passed,
        outcome=outcome,
        calls=tools,
        tool_calls=len(tools),
        cost_usd=cost,
    )


FULL = ["parse", "vendor", "po", "check", "pay"]

BASELINE = result(
    run("a", True, FULL, 0.001),
    run("b", True, FULL, 0.001),
    run("c", True, FULL, 0.001),
    run("d", False, FULL[:4], 0.002, "escalated"),
)
CANDIDATE = result(
    run("a", True, FULL, 0.001),
    run("b", False, ["parse", "vendor", "vendor", "vendor", "po", "pay"], 0.002, "escalated"),
    run("c", True, FULL, None),
    run("d", True, FULL, 0.0015),
    run("e", True, FULL, 0.001),
)


def test_figures_of_a_constructed_pair() -> None:
    diff = diff_results(BASELINE, CANDIDATE)
    assert diff.newly_failing == ["b"]
    assert diff.newly_passing == ["d"]
    assert diff.only_in_candidate == ["e"]
    assert diff.only_in_baseline == []
    rate = diff.metric("pass rate")
    assert (rate.baseline, rate.candidate) == (0.75, 0.8)
    assert not rate.flagged
    calls = diff.metric("mean tool calls per run")
    assert calls.baseline == pytest.approx(4.75)
    assert calls.candidate == pytest.approx(26 / 5)
    assert calls.relative == pytest.approx((5.2 - 4.75) / 4.75)
    assert not calls.flagged  # +9.5 %, under 20 %
    cost = diff.metric("cost per run (USD)")
    assert cost.baseline == pytest.approx(0.00125)
    assert cost.candidate == pytest.approx(0.0055 / 4)  # c's unknown cost is left out
    assert not cost.flagged  # +10 %
    escalation = diff.metric("escalation rate")
    assert (escalation.baseline, escalation.candidate) == (0.25, 0.2)
    assert not escalation.flagged  # 5 points is not more than 5 points
    tools = {t.tool: t for t in diff.tools}
    assert tools["vendor"].baseline_counts == {1: 4}
    assert tools["vendor"].candidate_counts == {1: 4, 3: 1}
    assert tools["vendor"].candidate_mean == pytest.approx(7 / 5)
    assert tools["vendor"].flagged  # +40 % calls per run
    assert tools["pay"].baseline_counts == {0: 1, 1: 3}
    assert tools["pay"].baseline_mean == pytest.approx(0.75)
    assert tools["pay"].flagged  # 0.75 -> 1.0 is +33 %
    assert not tools["parse"].flagged
    assert tools["check"].candidate_counts == {0: 1, 1: 4}
    assert diff.flagged  # b newly fails


def test_thresholds_decide_what_is_flagged() -> None:
    loose = DiffThresholds(tool_calls_change=0.5, cost_change=0.5, escalation_change=0.5)
    same = diff_results(BASELINE, BASELINE, loose)
    assert not same.flagged
    assert all(m.change == 0 for m in same.metrics)
    tight = DiffThresholds(tool_calls_change=0.05, cost_change=0.05, escalation_change=0.01)
    diff = diff_results(BASELINE, CANDIDATE, tight)
    flagged = {m.name for m in diff.metrics if m.flagged}
    assert flagged == {"mean tool calls per run", "cost per run (USD)", "escalation rate"}
    drop = diff_results(CANDIDATE, BASELINE, DiffThresholds(pass_rate_drop=0.1))
    assert not drop.metric("pass rate").flagged  # 0.8 -> 0.75 is 5 points
    assert diff_results(CANDIDATE, BASELINE).metric("pass rate").flagged
    # A tool that appears is flagged whatever the threshold.
    new_tool = result(run("a", True, [*FULL, "wire"], 0.001))
    wire = {t.tool: t for t in diff_results(result(run("a", True, FULL, 0.001)), new_tool).tools}
    assert wire["wire"].flagged
    assert wire["wire"].baseline_mean == 0
