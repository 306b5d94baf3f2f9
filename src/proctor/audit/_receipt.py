"""The run receipt: one run told to a reviewer, as typed values with a stable JSON shape.

The shape is documented in docs/architecture.md (Audit receipts). ``format_version``
changes only when a field is removed or changes meaning; new fields may be added.
Times are ISO 8601 in UTC; money is USD (``null``: unknown price); payloads that
retention purged are ``null`` with ``purged: true``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

FORMAT_VERSION = 1

ToolCallStatus = Literal[
    "succeeded", "failed", "denied", "drafted", "awaiting_approval", "started", "not_run"
]


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds, e.g. ``2026-03-04T10:00:00.123Z``."""
    if ts is None:
        return None
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(kw_only=True)
class RunSummary:
    """Who started the run, with what, and how it ended."""

    run_id: str
    workflow: str
    model: str
    status: str
    outcome: str | None
    outcome_reason: str | None
    started_by: str
    owner: str
    """The process that last drove the run (host:pid)."""
    trace_id: str
    started_at: str | None
    finished_at: str | None
    input: dict[str, Any] | None
    """As recorded: redaction happens before anything is stored. ``None`` if purged."""
    input_purged: bool
    final_text: str | None


@dataclass(kw_only=True)
class ContractSummary:
    name: str
    version: str
    hash: str
    stored: bool
    """The full text of this version is in the store (``proctor contract diff``)."""
    retention_days: int | None


@dataclass(kw_only=True)
class Totals:
    tool_calls: int
    model_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    active_s: float
    """Working time, without waits for approval (what ``max_runtime_seconds`` counts)."""
    wall_s: float
    """From the first event to the last."""


@dataclass(kw_only=True)
class ModelCallEntry:
    seq: int
    at: str | None
    kind: Literal["turn", "compaction", "checker"]
    model: str
    turn: int | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float | None
    latency_ms: float | None
    cache_hit: bool
    tool_calls: int


@dataclass(kw_only=True)
class DecisionEntry:
    at: str | None
    decision: str
    rule: str
    reason: str


@dataclass(kw_only=True)
class ToolCallEntry:
    """One call the model proposed, and everything that happened to it."""

    call_id: str
    step: int
    tool: str
    proposed_at: str | None
    arguments: dict[str, Any] | None
    raw_arguments: str | None
    args_digest: str
    purged: bool
    decision: str | None = None
    """The last policy decision (after an approval: ``allow`` or ``deny``)."""
    rule: str | None = None
    reason: str | None = None
    decisions: list[DecisionEntry] = field(default_factory=list)
    approval_id: str | None = None
    status: ToolCallStatus = "not_run"
    attempts: int = 0
    idempotency_key: str | None = None
    latency_ms: float | None = None
    error_type: str | None = None
    error: str | None = None
    result: Any = None


@dataclass(kw_only=True)
class ApprovalEntry:
    approval_id: str
    call_id: str
    tool: str
    rule: str
    reason: str
    requested_at: str | None
    status: Literal["pending", "approved", "denied", "expired"] = "pending"
    decided_by: str | None = None
    decided_at: str | None = None
    decision_reason: str | None = None
    approver: str = "human"
    """Who may decide: ``human``, ``checker`` or ``checker_then_human``."""
    checker_verdict: str | None = None
    """The checker model's verdict and reason, when a checker was asked."""


@dataclass(kw_only=True)
class CredentialEntry:
    """A credential issued for a call: its scopes and expiry, never the secret itself."""

    seq: int
    at: str | None
    call_id: str | None
    tool: str | None
    details: dict[str, Any]


@dataclass(kw_only=True)
class Notice:
    """Any other event worth a reviewer's eye (escalations, limits, routing, newer types)."""

    seq: int
    at: str | None
    type: str
    summary: str
    details: dict[str, Any]


@dataclass(kw_only=True)
class EventIndexEntry:
    """One event of the chain: enough to recompute its hash and check its signature."""

    seq: int
    type: str
    at: str | None
    hash: str
    purged: bool
    prev_hash: str = ""
    hashed: dict[str, Any] | None = field(default_factory=dict)
    """The fields the hash covers (the payload through ``content_digest``); ``None`` if
    withheld because its metadata names a secret (its ``hash`` is then taken as given)."""
    signature: str = ""
    """``<key id>.<base64url Ed25519>`` of the run head at this event, if signed here."""


@dataclass(kw_only=True)
class PurgeInfo:
    purged_at: str | None
    events: int
    bytes: int
    reason: str


@dataclass(kw_only=True)
class Verification:
    """The chain, recomputed from the stored log when the receipt was made."""

    ok: bool
    events: int
    head_hash: str
    problem: str | None
    bad_seq: int | None
    verified_at: str | None
    command: str
    explanation: str
    keyed: bool = False
    """Events hashed as RFC 8785 JSON, commits MACed, decisions signed."""
    signed_through: int = -1
    """The last event a signature covers (-1: none)."""
    public_keys: dict[str, str] = field(default_factory=dict)
    """PEM public keys by key id, of the keys that signed this run (check the id against
    the key its operator published; a receipt cannot vouch for its own key)."""
    procedure: list[str] = field(default_factory=list)
    """How to check the chain by hand (docs/audit.md)."""


@dataclass(kw_only=True)
class Receipt:
    """Everything a reviewer needs to know about one run, read from its log."""

    format_version: int
    generated_at: str | None
    generator: str
    run: RunSummary
    contract: ContractSummary
    totals: Totals
    verification: Verification
    model_calls: list[ModelCallEntry]
    tool_calls: list[ToolCallEntry]
    approvals: list[ApprovalEntry]
    credentials: list[CredentialEntry]
    notices: list[Notice]
    purge: PurgeInfo | None
    events: list[EventIndexEntry]


def receipt_dict(receipt: Receipt) -> dict[str, Any]:
    """The receipt as JSON-ready values, in the documented shape."""
    return dataclasses.asdict(receipt)


def receipt_json(receipt: Receipt) -> str:
    """The receipt as indented JSON (UTF-8 text)."""
    # orjson writes dataclasses natively, field by field: the shape of receipt_dict.
    return orjson.dumps(receipt, option=orjson.OPT_INDENT_2).decode() + "\n"
