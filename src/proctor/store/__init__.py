"""Store layer: the event types, the hash chain, ``RunState`` and the backends.

Nothing here imports from a layer above it.
"""

from __future__ import annotations

import os
from pathlib import Path

from proctor.store._canonical import GENESIS_HASH, canonical_json, chain_hash, digest
from proctor.store._events import (
    EVENT_TYPES,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalRequested,
    Approver,
    CacheHit,
    CheckerDecided,
    ContextCompacted,
    CredentialIssued,
    DecisionKind,
    DraftRecorded,
    Escalated,
    EscalationMode,
    EscalationTrigger,
    Event,
    EventData,
    LimitReached,
    ModelAttemptFailed,
    ModelCalled,
    ModelRouted,
    Outcome,
    PolicyDecided,
    RateLimited,
    RecordedToolCall,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
)
from proctor.store._journal import RunJournal, new_span_id, row_to_event
from proctor.store._protocol import Store
from proctor.store._records import (
    ApiKeyRecord,
    ApprovalRecord,
    ContractRecord,
    EvalResultRecord,
    EventRow,
    GatewayCallRecord,
    PurgeRecord,
    RunFilter,
    RunRecord,
)
from proctor.store._sqlite import SQLiteStore
from proctor.store._state import CallState, RunState
from proctor.store._verify import ChainReport, verify_rows, verify_run

__all__ = [
    "EVENT_TYPES",
    "GENESIS_HASH",
    "ApiKeyRecord",
    "ApprovalDecided",
    "ApprovalExpired",
    "ApprovalRecord",
    "ApprovalRequested",
    "Approver",
    "CacheHit",
    "CallState",
    "ChainReport",
    "CheckerDecided",
    "ContextCompacted",
    "ContractRecord",
    "CredentialIssued",
    "DecisionKind",
    "DraftRecorded",
    "Escalated",
    "EscalationMode",
    "EscalationTrigger",
    "EvalResultRecord",
    "Event",
    "EventData",
    "EventRow",
    "GatewayCallRecord",
    "LimitReached",
    "ModelAttemptFailed",
    "ModelCalled",
    "ModelRouted",
    "Outcome",
    "PolicyDecided",
    "PurgeRecord",
    "RateLimited",
    "RecordedToolCall",
    "RunFilter",
    "RunFinished",
    "RunJournal",
    "RunRecord",
    "RunResumed",
    "RunStarted",
    "RunState",
    "RunStatus",
    "SQLiteStore",
    "Store",
    "ToolFinished",
    "ToolProposed",
    "ToolStarted",
    "Totals",
    "Usage",
    "canonical_json",
    "chain_hash",
    "default_home",
    "digest",
    "new_span_id",
    "open_store",
    "row_to_event",
    "verify_rows",
    "verify_run",
]


def default_home() -> Path:
    """Where Proctor keeps its files: ``$PROCTOR_HOME`` or ``./.proctor``."""
    return Path(os.environ.get("PROCTOR_HOME") or ".proctor")


def open_store(location: str | Path | None = None) -> Store:
    """Open the store at a path or URL; the default is ``<home>/proctor.db``."""
    if location is None:
        location = os.environ.get("PROCTOR_DB") or default_home() / "proctor.db"
    text = str(location)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
    elif "://" in text:
        from proctor.errors import UsageError

        scheme = text.split("://", 1)[0]
        raise UsageError(
            f"unsupported store URL scheme {scheme!r}: use a file path or sqlite:///PATH "
            "(PostgreSQL support comes with the scale-out store)"
        )
    return SQLiteStore(text)
