"""Audit layer: run receipts (JSON and self-contained HTML), retention, contract versions.

A view over the store: it reads run logs and writes nothing but retention's purges and
the store's signed checkpoints.
"""

from __future__ import annotations

from proctor.audit._approvals import chained_approvals
from proctor.audit._build import build_receipt
from proctor.audit._evidence import (
    CheckpointRefused,
    StoreReport,
    export_checkpoint,
    load_checkpoint,
    make_checkpoint,
    verify_store,
)
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
from proctor.audit._receipt_check import ReceiptCheck, check_receipt
from proctor.audit._retention import RetentionItem, RetentionReport, apply_retention
from proctor.audit._versions import find_contract_version

__all__ = [
    "FORMAT_VERSION",
    "ApprovalEntry",
    "CheckpointRefused",
    "ContractSummary",
    "CredentialEntry",
    "DecisionEntry",
    "EventIndexEntry",
    "ModelCallEntry",
    "Notice",
    "PurgeInfo",
    "Receipt",
    "ReceiptCheck",
    "RetentionItem",
    "RetentionReport",
    "RunSummary",
    "StoreReport",
    "ToolCallEntry",
    "ToolCallStatus",
    "Totals",
    "Verification",
    "apply_retention",
    "build_receipt",
    "chained_approvals",
    "check_receipt",
    "export_checkpoint",
    "find_contract_version",
    "load_checkpoint",
    "make_checkpoint",
    "receipt_dict",
    "receipt_html",
    "receipt_json",
    "verify_store",
]
