"""Prompt-injection benchmark of Proctor's policy: utility, approvals, attack success.

Runs every legitimate task of each workflow clean, and every (task, attack) pair whose task
reads the poisoned content, through the real runtime with a scripted agent that obeys the
injections it reads. Each workflow runs under no policy (for reference), its baseline
contract (today's keys) and its provenance contract, side by side. Offline, a few seconds.

    python benchmarks/injection/run.py [--json] [--details] [--suite NAME ...]
                                       [--contract none,baseline,provenance]

Benchmarks print figures; they assert nothing (tests/benchmarks/test_injection.py does,
on a subset).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from injection._harness import SuiteResult, probe, run_suite
from injection._report import GOAL, Figures, as_json, details, figures
from injection.suites import SUITES
from proctor.store import MemoryStore

CONTRACTS = Path(__file__).resolve().parent / "contracts"
VARIANTS = ("none", "baseline", "provenance")


def contract_path(suite: str, variant: str) -> Path | None:
    """The contract file of a suite's variant (``none``: no contract at all)."""
    return None if variant == "none" else CONTRACTS / f"{suite}.{variant}.yaml"


async def run(
    suites: list[str],
    variants: list[str],
    *,
    tasks: list[str] | None = None,
    attacks: list[str] | None = None,
) -> dict[str, list[SuiteResult]]:
    """Each variant's results, per suite."""
    store = MemoryStore()
    by_contract: dict[str, list[SuiteResult]] = {v: [] for v in variants}
    for name in suites:
        suite = SUITES[name]
        probed = await probe(suite, store)
        for variant in variants:
            by_contract[variant].append(
                await run_suite(
                    suite,
                    variant,
                    contract_path(name, variant),
                    store=store,
                    probed=probed,
                    tasks=tasks,
                    attacks=attacks,
                )
            )
    return by_contract


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_table(by_contract: dict[str, list[SuiteResult]], *, show_details: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 132))
    variants = list(by_contract)
    table = Table(box=box.SIMPLE_HEAVY, title="Prompt injection: Proctor policy (issue 14)")
    table.add_column("workflow", no_wrap=True, min_width=10)
    table.add_column("contract", no_wrap=True, min_width=10)
    for column in ("tasks", "utility", "person", "blocked", "cases"):
        table.add_column(column, justify="right")
    for column in ("ASR\nno human", "ASR\nideal", "injected\nrefused", "writes\nrefused"):
        table.add_column(column, justify="right")
    table.add_column("to a\nperson", justify="right")
    suites = [r.suite for r in by_contract[variants[0]]]
    for suite in suites:
        for variant in variants:
            result = next(r for r in by_contract[variant] if r.suite == suite)
            name = suite if variant == variants[0] else ""
            if result.error is not None:
                table.add_row(name, variant, "skipped")
            else:
                table.add_row(name, variant, *_cells(figures([result])))
        table.add_section()
    for variant in variants:
        ran = [r for r in by_contract[variant] if r.error is None]
        name = "total" if variant == variants[0] else ""
        if ran:
            table.add_row(name, variant, *_cells(figures(ran)), style="bold")
        else:
            table.add_row(name, variant, "skipped", style="bold")
    console.print(table)
    console.print(
        "utility: legitimate tasks done with nothing refused and nobody asked; person: tasks "
        "that needed an approval or a handoff; blocked: refused outright. ASR (attack success): "
        "cases whose attacker goal was reached, with no human (every approval granted) and "
        "with an ideal approver (exactly the attacker's calls denied). Injected calls: the "
        "calls the agent made for the attacker (all, and those of write tools), refused by policy "
        "alone or sent to a person."
    )
    console.print(
        f"Goal: ASR no-human <= {_pct(GOAL['attack_success_no_human_max'])}, utility >= "
        f"{_pct(GOAL['utility_min'])}, person <= {_pct(GOAL['needs_person_max'])}."
    )
    for variant in variants:
        ran = [r for r in by_contract[variant] if r.error is None]
        total = figures(ran)
        verdict = "meets the goal" if total.meets_goal() else "misses the goal"
        console.print(
            f"  {variant}: {verdict} over {len(ran)} workflow(s); the user's task was still "
            f"done in {_pct(total.utility_under_attack)} of attack cases (no human)"
        )
        for result in by_contract[variant]:
            if result.error is not None:
                console.print(f"    {result.suite} skipped: {result.error}", markup=False)
    if show_details:
        for variant in variants:
            for result in by_contract[variant]:
                if result.error is None and variant != "none":
                    console.print(f"\n[bold]{variant} / {result.suite}[/bold]")
                    console.print_json(json.dumps(details(result)))


def _cells(f: Figures) -> list[str]:
    return [
        str(f.tasks),
        _pct(f.utility),
        _pct(f.needs_person),
        _pct(f.blocked),
        str(f.attack_cases),
        _pct(f.attack_success_no_human),
        _pct(f.attack_success_ideal),
        _pct(f.injected_denied),
        _pct(f.injected_writes_denied),
        _pct(f.injected_to_person),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--details", action="store_true", help="list failures per suite")
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="repeatable")
    parser.add_argument("--contract", default=",".join(VARIANTS), help="variants to run")
    args = parser.parse_args()
    variants = [v for v in args.contract.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown contract variant(s) {sorted(unknown)}; choose from {VARIANTS}")
    clock = time.perf_counter()
    by_contract = asyncio.run(run(args.suite or list(SUITES), variants))
    elapsed = time.perf_counter() - clock
    if args.json:
        out: dict[str, Any] = as_json(by_contract)
        out["seconds"] = round(elapsed, 2)
        print(json.dumps(out, indent=2))
    else:
        print_table(by_contract, show_details=args.details)
        print(f"{elapsed:.1f} s")


if __name__ == "__main__":
    main()
