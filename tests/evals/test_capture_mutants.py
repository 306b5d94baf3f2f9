"""A captured case as a QA engineer would write it: mutants of the recorded run that
change the outcome fail it, harmless swaps of independent reads do not.

The mutants edit the recorded model responses of a case captured from the invoice
example's clean run (read the vendor, the PO, the invoice, check thresholds, then pay
once), and the case is replayed with them (``--recorded``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from eval_support import capture_to, replay

from proctor.evals import case_yaml
from proctor.store import Store

Responses = list[dict[str, Any]]


def calls_of(responses: Responses) -> list[tuple[int, int]]:
    """(response, call) positions of every recorded call, in order."""
    return [
        (r, c)
        for r, response in enumerate(responses)
        for c in range(len(response.get("calls", [])))
    ]


def position(responses: Responses, tool: str) -> tuple[int, int]:
    return next((r, c) for r, c in calls_of(responses) if responses[r]["calls"][c]["tool"] == tool)


def swap(first: str, second: str) -> Callable[[Responses], None]:
    def mutate(responses: Responses) -> None:
        (r1, c1), (r2, c2) = position(responses, first), position(responses, second)
        one, two = responses[r1]["calls"][c1], responses[r2]["calls"][c2]
        responses[r1]["calls"][c1], responses[r2]["calls"][c2] = two, one

    return mutate


def drop(tool: str) -> Callable[[Responses], None]:
    def mutate(responses: Responses) -> None:
        r, c = position(responses, tool)
        del responses[r]["calls"][c]
        if not responses[r]["calls"]:
            del responses[r]

    return mutate


def change_argument(tool: str, name: str, value: Any) -> Callable[[Responses], None]:
    def mutate(responses: Responses) -> None:
        r, c = position(responses, tool)
        responses[r]["calls"][c]["arguments"][name] = value

    return mutate


def repeat(tool: str) -> Callable[[Responses], None]:
    def mutate(responses: Responses) -> None:
        r, c = position(responses, tool)
        call = responses[r]["calls"][c]
        responses.insert(r + 1, {"calls": [copy.deepcopy(call)]})

    return mutate


HARMLESS = {"lookups swapped": swap("erp.lookup_vendor", "erp.fetch_po")}
HARMFUL = {
    "threshold check dropped": drop("policy.check_thresholds"),
    "vendor lookup dropped": drop("erp.lookup_vendor"),
    "amount changed": change_argument("erp.create_payment", "amount", 9999.0),
    "vendor changed": change_argument("erp.create_payment", "vendor_id", "V-0000"),
    "payment made twice": repeat("erp.create_payment"),
    "payment before the threshold check": swap("policy.check_thresholds", "erp.create_payment"),
}


@pytest.fixture
async def captured(store: Store, tmp_path: Path) -> Path:
    return await capture_to(store, tmp_path / "suite", "clean")


async def mutated(path: Path, mutate: Callable[[Responses], None]) -> bool:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(document["recorded"]["responses"])
    path.write_text(case_yaml(document), encoding="utf-8")
    (verdict,) = (await replay(path, recorded=True)).cases
    return verdict.passed


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_every_harmful_mutant_is_caught_and_harmless_swaps_pass(
    captured: Path, tmp_path: Path
) -> None:
    original = captured.read_text(encoding="utf-8")
    assert (await replay(captured, recorded=True)).cases[0].passed
    for name, mutate in {**HARMLESS, **HARMFUL}.items():
        captured.write_text(original, encoding="utf-8")
        passed = await mutated(captured, mutate)
        assert passed == (name in HARMLESS), f"mutant {name!r}: passed={passed}"
