"""Store layer: the event types, the hash chain, ``RunState``, the store's roles and backends.

Nothing here imports from a layer above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctor.store._canonical import (
    GENESIS_HASH,
    MAX_JSON_DEPTH,
    canonical_json,
    chain_hash,
    digest,
    json_value_problem,
    keyed_digest,
)
from proctor.store._documents import (
    approval_document,
    eval_result_document,
    event_document,
    key_document,
    queued_run_document,
    run_document,
)
from proctor.store._events import (
    EVENT_TYPES,
    AnswerRefused,
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
    Purged,
    RateLimited,
    RecordedToolCall,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    RunStatus,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Totals,
    Usage,
    ValuesSeen,
)
from proctor.store._evidence import (
    SIGNED_EVENTS,
    EvidenceKeys,
    LocalSigner,
    Signer,
    key_id,
    load_public_key,
    merkle_root,
    public_pem,
)
from proctor.store._files import default_home, private_dirs
from proctor.store._jcs import jcs, standard_chain_hash, standard_digest
from proctor.store._journal import RunJournal, new_span_id
from proctor.store._keyfiles import (
    load_evidence_keys,
    load_signing_key,
    rotate_evidence_key,
)
from proctor.store._memory import MemoryStore
from proctor.store._outcomes import (
    COST_DIGITS,
    DurationCount,
    OutcomeGroup,
    RunOutcomes,
    round_duration,
)
from proctor.store._protocol import (
    ApiKeys,
    Approvals,
    CallLedger,
    Checkpoints,
    ContractVersions,
    EvalResults,
    Health,
    ResponseCache,
    Retention,
    RunLog,
    RunQueue,
    Sessions,
    Store,
)
from proctor.store._ready import StoreReadiness, check_store
from proctor.store._records import (
    ApiKeyRecord,
    ApprovalOrder,
    ApprovalRecord,
    CheckpointRecord,
    ContractRecord,
    DeliveryRecord,
    EvalResultRecord,
    EventRow,
    GatewayCallRecord,
    PurgeRecord,
    QueueItem,
    QueueState,
    RunBucket,
    RunFilter,
    RunRecord,
    SessionRecord,
    SpendHold,
    approval_key,
    row_to_event,
)
from proctor.store._run_query import (
    RUN_SORTS,
    TOTALS_CAP,
    RunSort,
    RunTotals,
    check_session_key,
    check_sort,
    check_sort_key,
    search_terms,
    sort_key,
    summary_answer,
    summary_input,
    summary_tools,
    totals_of,
)
from proctor.store._sealing import (
    RunKey,
    SealError,
    is_sealed_input,
    new_run_key,
    open_events,
    open_run_key,
    sealed_problem,
)
from proctor.store._sqlite import SQLiteStore
from proctor.store._state import CallState, RunState
from proctor.store._times import iso_or_none, iso_time
from proctor.store._usage import (
    USAGE_DIMENSIONS,
    GatewayUsage,
    UsageDimension,
    check_usage_dimensions,
)
from proctor.store._verify import (
    ChainReport,
    approval_disagreement,
    chained_approval,
    verify_rows,
    verify_run,
)
from proctor.store._wal import WalSettings

__all__ = [
    "COST_DIGITS",
    "EVENT_TYPES",
    "GENESIS_HASH",
    "MAX_JSON_DEPTH",
    "RUN_SORTS",
    "SIGNED_EVENTS",
    "TOTALS_CAP",
    "USAGE_DIMENSIONS",
    "AnswerRefused",
    "ApiKeyRecord",
    "ApiKeys",
    "ApprovalDecided",
    "ApprovalExpired",
    "ApprovalOrder",
    "ApprovalRecord",
    "ApprovalRequested",
    "Approvals",
    "Approver",
    "CacheHit",
    "CallLedger",
    "CallState",
    "ChainReport",
    "CheckerDecided",
    "CheckpointRecord",
    "Checkpoints",
    "ContextCompacted",
    "ContractRecord",
    "ContractVersions",
    "CredentialIssued",
    "DecisionKind",
    "DeliveryRecord",
    "DraftRecorded",
    "DurationCount",
    "Escalated",
    "EscalationMode",
    "EscalationTrigger",
    "EvalResultRecord",
    "EvalResults",
    "Event",
    "EventData",
    "EventRow",
    "EvidenceKeys",
    "GatewayCallRecord",
    "GatewayUsage",
    "Health",
    "LimitReached",
    "LocalSigner",
    "MemoryStore",
    "ModelAttemptFailed",
    "ModelCalled",
    "ModelRouted",
    "Outcome",
    "OutcomeGroup",
    "PolicyDecided",
    "PostgresStore",
    "PurgeRecord",
    "Purged",
    "QueueItem",
    "QueueState",
    "RateLimited",
    "RecordedToolCall",
    "ResponseCache",
    "Retention",
    "RunBucket",
    "RunFilter",
    "RunFinished",
    "RunInterrupted",
    "RunJournal",
    "RunKey",
    "RunLog",
    "RunOutcomes",
    "RunQueue",
    "RunRecord",
    "RunResumed",
    "RunSort",
    "RunStarted",
    "RunState",
    "RunStatus",
    "RunTotals",
    "SQLiteStore",
    "SealError",
    "SessionRecord",
    "Sessions",
    "Signer",
    "SpendHold",
    "Store",
    "StoreReadiness",
    "ToolFinished",
    "ToolProposed",
    "ToolStarted",
    "Totals",
    "Usage",
    "UsageDimension",
    "ValuesSeen",
    "WalSettings",
    "approval_disagreement",
    "approval_document",
    "approval_key",
    "canonical_json",
    "chain_hash",
    "chained_approval",
    "check_session_key",
    "check_sort",
    "check_sort_key",
    "check_store",
    "check_usage_dimensions",
    "default_home",
    "digest",
    "eval_result_document",
    "event_document",
    "is_sealed_input",
    "iso_or_none",
    "iso_time",
    "jcs",
    "json_value_problem",
    "key_document",
    "key_id",
    "keyed_digest",
    "load_evidence_keys",
    "load_public_key",
    "load_signing_key",
    "merkle_root",
    "new_run_key",
    "new_span_id",
    "open_events",
    "open_run_key",
    "open_store",
    "private_dirs",
    "public_pem",
    "queued_run_document",
    "rotate_evidence_key",
    "round_duration",
    "row_to_event",
    "run_document",
    "sealed_problem",
    "search_terms",
    "sort_key",
    "standard_chain_hash",
    "standard_digest",
    "summary_answer",
    "summary_input",
    "summary_tools",
    "totals_of",
    "verify_rows",
    "verify_run",
]


def open_store(location: str | Path | None = None, *, create: bool = True) -> Store:
    """Open the store at a path or URL: ``location``, else ``$PROCTOR_DB``, else
    ``<home>/proctor.db``.

    A file path or ``sqlite:///ABSOLUTE/PATH`` opens a ``SQLiteStore``; a ``postgresql://``
    (or ``postgres://``) URL a ``PostgresStore``, which connects and migrates on first use.
    Any other URL raises ``UsageError``. ``create=False`` opens only a SQLite store that
    exists (``StoreError`` otherwise), for what only reads: a mistyped path must not
    become a new, empty store.
    """
    from proctor.store._schema import check_store_exists, resolve_location

    backend, target = resolve_location(location)
    if backend == "postgresql":
        # Imported here: psycopg (the postgres extra) loads only for those who use PostgreSQL.
        from proctor.errors import needs_extra

        with needs_extra("a PostgreSQL store"):
            from proctor.store._postgres import PostgresStore

        return PostgresStore(target)
    if not create:
        check_store_exists(target)
    return SQLiteStore(target)


if TYPE_CHECKING:
    from proctor.store._postgres import PostgresStore


def __getattr__(name: str) -> Any:
    # PostgresStore imports psycopg: loaded when asked for, not by every `import proctor`.
    if name == "PostgresStore":
        from proctor.errors import needs_extra

        with needs_extra("proctor.store.PostgresStore"):
            from proctor.store._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
