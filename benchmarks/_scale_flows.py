"""The workflows, models and mix of the runs ``seed_scale.py`` makes (``_scale_runs``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from proctor.contracts import Contract, contract_record
from proctor.store import ContractRecord

DAY = 86_400.0
OUTCOMES = ("resolved", "escalated", "failed", "awaiting_approval")
OUTCOME_WEIGHTS = (83, 9, 5, 3)
RARE_WORD = "quokka"
"""A word in the input of one run in 100,000 (a search that must read every run)."""
WORDS = [
    "invoice",
    "vendor",
    "amount",
    "payment",
    "order",
    "net",
    "terms",
    "please",
    "due",
    "thanks",
    "urgent",
]
# (model, USD per million input tokens, per million output tokens; None: no known price)
MODELS: tuple[tuple[str, float | None, float], ...] = (
    ("openai:gpt-4o-mini", 0.15, 0.6),
    ("openai:gpt-4o-mini", 0.15, 0.6),
    ("openai:gpt-4o", 2.5, 10.0),
    ("anthropic:claude-sonnet-4-5", 3.0, 15.0),
    ("openai:gpt-4.1-nano", 0.1, 0.4),
    ("local:llama-3.1-8b", None, 0.0),
)


@dataclass(frozen=True)
class Flow:
    """A workflow the seeded runs belong to: its contract, tools and share of runs."""

    name: str
    weight: int
    key: str
    """The input field naming what the run is about (``vendor_id``, ``customer_id``)."""
    tools: tuple[tuple[str, str], ...]
    """(name, description); the last is the one that needs an approval."""
    contract: ContractRecord
    instructions: str


def _flow(name: str, weight: int, key: str, tools: tuple[tuple[str, str], ...]) -> Flow:
    contract = Contract.model_validate(
        {
            "workflow": name,
            "version": "1",
            "description": f"The {name.replace('_', ' ')} workflow, seeded for scale figures.",
            "allowed_tools": [tool for tool, _ in tools],
        }
    )
    return Flow(
        name=name,
        weight=weight,
        key=key,
        tools=tools,
        contract=contract_record(contract, at=0.0),
        instructions=f"Work through the {name.replace('_', ' ')} request step by step; "
        f"call {tools[-1][0]} last, and only when every check before it passed.",
    )


FLOWS = (
    _flow(
        "invoice_reconciliation",
        45,
        "vendor_id",
        (
            ("ocr.parse_invoice", "Parse a plain-text invoice into its fields."),
            ("erp.lookup_vendor", "Look up a vendor's master record in the ERP."),
            ("erp.fetch_po", "Fetch a purchase order from the ERP."),
            ("policy.check_thresholds", "Check an invoice against its PO and thresholds."),
            ("erp.create_payment", "Create a payment for an invoice in the ERP."),
        ),
    ),
    _flow(
        "support_triage",
        30,
        "customer_id",
        (
            ("kb.search", "Search the knowledge base."),
            ("crm.lookup", "Look up a customer in the CRM."),
            ("ticket.update", "Update a support ticket's fields."),
            ("email.send", "Send an e-mail to the customer."),
        ),
    ),
    _flow(
        "refunds",
        20,
        "customer_id",
        (
            ("crm.lookup", "Look up a customer in the CRM."),
            ("billing.lookup_charge", "Find a charge by its id."),
            ("billing.refund", "Refund a charge, in part or whole."),
        ),
    ),
    _flow(
        "kyc_review",
        5,
        "applicant_id",
        (
            ("docs.fetch", "Fetch an applicant's documents."),
            ("sanctions.screen", "Screen a name against the sanctions lists."),
            ("kyc.decide", "Record the KYC decision."),
        ),
    ),
)
FLOW_WEIGHTS = list(itertools.accumulate(flow.weight for flow in FLOWS))
SESSION_FLOW = FLOWS[1]  # conversations are support chats
