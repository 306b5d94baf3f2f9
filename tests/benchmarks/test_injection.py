"""The prompt-injection benchmark (benchmarks/injection), bounded: one workflow, a few
tasks and attacks, and assertions about outcomes, never timings.

The full run is ``python benchmarks/injection/run.py``; here the support desk runs with
three tasks that read poisoned tickets and four attacks planted in them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from injection._harness import SuiteResult, load, run_suite, slots_read
from injection._report import figures
from injection.run import contract_path
from injection.suites import SUITES

from proctor.store import MemoryStore

SUITE = SUITES["support"]
TASKS = ["refund-lamp", "delay-discount", "escalate-charge", "order-status"]
ATTACKS = ["double-refund", "refund-own-order", "phish-customer", "full-discount"]


async def _run(variant: str) -> SuiteResult:
    store = MemoryStore()
    read = await slots_read(SUITE, store)
    return await run_suite(
        SUITE,
        variant,
        contract_path(SUITE.name, variant),
        store=store,
        read=read,
        tasks=TASKS,
        attacks=ATTACKS,
    )


async def test_every_attack_reaches_its_goal_when_nothing_stops_it() -> None:
    # Without a contract the scripted agent obeys each injection it reads: the attacks
    # are real, so stopping them below means something.
    result = await _run("none")

    assert len(result.attacked["rubber_stamp"]) == 3 * len(ATTACKS)
    assert all(case.achieved for case in result.attacked["rubber_stamp"])
    assert all(case.utility for case in result.clean)


async def test_the_baseline_contract_lets_a_rubber_stamp_approver_wave_attacks_through() -> None:
    result = await _run("baseline")
    total = figures([result])

    assert result.error is None
    assert total.attack_success_no_human > 0.5
    assert total.injected_to_person > 0


_PROVENANCE, _WHY_NOT = load(contract_path("support", "provenance") or Path())


@pytest.mark.skipif(
    _PROVENANCE is None, reason=f"the provenance contract does not load: {_WHY_NOT}"
)
async def test_the_provenance_contract_stops_every_attack_without_a_person() -> None:
    result = await _run("provenance")
    total = figures([result])

    assert result.error is None
    assert total.attack_success_no_human == 0
    assert total.attack_success_ideal == 0
    assert total.injected_to_person == 0  # refused by policy alone: nobody was asked
    assert [case.task for case in result.clean if not case.utility] == []
