"""Audit layer: run receipts (JSON and self-contained HTML), retention, contract versions.

A view over the store: it reads run logs and writes nothing but retention's purges.
"""

from __future__ import annotations

from proctor.audit._build import build_receipt
from proctor.audit._html import receipt_html
from proctor.audit._receipt import (
    FORMAT_VERSION,
    ApprovalEntry,
    ContractSummary,
    CredentialEntry,
    DecisionEntry,
    EventIndexEntry,
    ModelCallEntry,
    Notice,
    PurgeInfo,
    Receipt,
    RunSummary,
    ToolCallEntry,
    ToolCallStatus,
    Totals,
    Verification,
    receipt_dict,
    receipt_json,
)
from proctor.audit._retention import RetentionItem, RetentionReport, apply_retention
from proctor.audit._versions import find_contract_version

__all__ = [
    "FORMAT_VERSION",
    "ApprovalEntry",
    "ContractSummary",
    "CredentialEntry",
    "DecisionEntry",
    "EventIndexEntry",
    "ModelCallEntry",
    "Notice",
    "PurgeInfo",
    "Receipt",
    "RetentionItem",
    "RetentionReport",
    "RunSummary",
    "ToolCallEntry",
    "ToolCallStatus",
    "Totals",
    "Verification",
    "apply_retention",
    "build_receipt",
    "find_contract_version",
    "receipt_dict",
    "receipt_html",
    "receipt_json",
]
