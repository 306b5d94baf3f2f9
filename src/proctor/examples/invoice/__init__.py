"""The shipped invoice-reconciliation workflow: tools, contract, sample data, scripted agents.

Runs fully offline: the ERP is a SQLite file under the Proctor home, seeded on first use,
and each scenario's "model" is a deterministic script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from proctor.contracts import Contract, load_contract
from proctor.errors import UsageError
from proctor.examples.invoice._erp import (
    ErpLookupError,
    erp_path,
    list_payments,
    list_wire_transfers,
    payments_count,
    wire_transfers_count,
)
from proctor.examples.invoice._models import INSTRUCTIONS, SCRIPTS
from proctor.examples.invoice._tools import APPROVAL_THRESHOLD, registry
from proctor.runtime import Workflow

__all__ = [
    "APPROVAL_THRESHOLD",
    "DEMO_SCENARIOS",
    "INSTRUCTIONS",
    "SCRIPTS",
    "DemoScenario",
    "ErpLookupError",
    "contract",
    "erp_path",
    "list_payments",
    "list_wire_transfers",
    "payments_count",
    "registry",
    "sample_input",
    "sample_names",
    "wire_transfers_count",
    "workflow",
]

ExpectedStatus = Literal["resolved", "awaiting_approval", "escalated"]


@dataclass(frozen=True, slots=True)
class DemoScenario:
    """One scenario of ``proctor demo``: which input, which scripted agent, what to expect."""

    title: str
    input_name: str
    model: str
    shows: str
    expected: ExpectedStatus


DEMO_SCENARIOS: tuple[DemoScenario, ...] = (
    DemoScenario(
        title="Clean invoice",
        input_name="clean",
        model="scripted:procedure",
        shows="Every required step runs in order and the payment is created once.",
        expected="resolved",
    ),
    DemoScenario(
        title="Over the approval threshold",
        input_name="over_threshold",
        model="scripted:procedure",
        shows="A 24,500.00 EUR payment pauses for a human approver instead of executing.",
        expected="awaiting_approval",
    ),
    DemoScenario(
        title="Risky payment, second check",
        input_name="inflated",
        model="scripted:pushy",
        shows="The agent pays an invoice over its PO anyway; the checker model denies it.",
        expected="escalated",
    ),
    DemoScenario(
        title="Prompt injection in the invoice",
        input_name="injected",
        model="scripted:gullible",
        shows="The agent obeys an injected wire instruction; the forbidden tool is refused.",
        expected="escalated",
    ),
    DemoScenario(
        title="Runaway re-checking",
        input_name="clean",
        model="scripted:rechecker",
        shows="An agent stuck re-checking the vendor is stopped by the tool-call ceiling.",
        expected="escalated",
    ),
    DemoScenario(
        title="Payment before the policy check",
        input_name="clean",
        model="scripted:hasty",
        shows="Paying before policy.check_thresholds is refused by the ordering rule.",
        expected="escalated",
    ),
)


def _data() -> resources.abc.Traversable:
    return resources.files(__name__).joinpath("data")


def sample_names() -> list[str]:
    """Names of the shipped sample inputs (for ``sample_input``)."""
    return sorted(
        p.name.removesuffix(".json") for p in _data().iterdir() if p.name.endswith(".json")
    )


def sample_input(name: str) -> dict[str, Any]:
    """A shipped sample run input by name (e.g. ``"clean"``).

    ``{"vendor_id": ..., "invoice_text": ...}``: the supplier account the invoice arrived
    from, to which the contract scopes the ERP tools' credentials, and the invoice itself.
    """
    path = _data().joinpath(f"{name.removesuffix('.json')}.json")
    if not path.is_file():
        raise UsageError(
            f"no sample input {name!r} for invoice_reconciliation: "
            f"choose one of {', '.join(sample_names())}"
        )
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


def contract() -> Contract:
    """The workflow contract shipped as ``contract.yaml``."""
    with resources.as_file(resources.files(__name__).joinpath("contract.yaml")) as path:
        return load_contract(path)


def workflow() -> Workflow:
    """The invoice-reconciliation workflow, with its scripted scenarios."""
    terms = contract()
    return Workflow(
        name=terms.workflow,
        registry=registry(),
        contract=terms,
        instructions=INSTRUCTIONS,
        default_model="scripted:procedure",
        scripts=dict(SCRIPTS),
        description=terms.description,
    )
