"""Rows the store keeps beside the event log: runs, approvals, and raw event rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from proctor.errors import ChainConflictError, StoreError
from proctor.store._events import Event, Outcome, RunStatus, join_data
from proctor.store._run_query import RunSort


@dataclass(kw_only=True)
class RunRecord:
    """A run's summary row: an index over its log, updated when its status changes."""

    run_id: str
    workflow: str
    model: str
    contract_name: str
    contract_hash: str
    trace_id: str
    started_at: float
    status: RunStatus = "running"
    outcome: Outcome | None = None
    updated_at: float = 0.0
    finished_at: float | None = None
    tool_calls: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    duration_s: float = 0.0
    last_seq: int = -1
    head_hash: str = ""
    owner: str = ""
    """The process driving the run (host:pid), so a dead one's runs can be resumed."""
    workflow_ref: str = ""
    """How to load the run's workflow: a name or ``package.module:attribute``."""
    tenant: str = "default"
    """The tenant the run belongs to: the HTTP API shows a run only to its tenant's keys."""
    started_by: str = ""
    """Who started the run (an API key's name, or the OS user of the CLI)."""
    session: str | None = None
    """The session key the run was started with (a conversation's runs share one); not a
    web UI sign-in session (``SessionRecord``)."""
    input_text: str = ""
    """The run's input as its log records it (redacted), compact JSON cut short: for
    search and the session view, not for the runtime (which reads the log)."""
    answer_text: str = ""
    """The run's final answer as its log records it (redacted), cut short, once finished."""
    tools_used: str = ""
    """The names of the tools the run proposed, space-separated, as of its last status."""


@dataclass(kw_only=True)
class ApprovalRecord:
    """A request for a decision on one exact tool call (tool + argument digest)."""

    approval_id: str
    run_id: str
    call_id: str
    tool: str
    args_digest: str
    arguments: dict[str, Any]
    rule: str
    reason: str
    requested_at: float
    status: str = "pending"
    decided_at: float | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    approver: str = "human"
    """Who may decide: ``human``, ``checker`` or ``checker_then_human``."""
    expires_at: float | None = None


ApprovalOrder = Literal["requested", "-decided"]
"""How ``list_approvals`` orders approvals: oldest request first, or the latest decision
first (decided approvals only)."""


def approval_key(order: ApprovalOrder, approval: ApprovalRecord) -> tuple[float, str]:
    """The position of ``approval`` in ``order``: the cursor ``list_approvals(after=)``
    continues after."""
    if order == "-decided" and approval.decided_at is not None:
        return (approval.decided_at, approval.approval_id)
    return (approval.requested_at, approval.approval_id)


@dataclass(kw_only=True, slots=True)
class EventRow:
    """An event as stored: the columns the chain hash is computed from."""

    run_id: str
    seq: int
    type: str
    ts: float
    trace_id: str
    span_id: str
    parent_span_id: str | None
    meta: dict[str, Any]
    content: dict[str, Any] | None
    content_digest: str
    prev_hash: str
    hash: str
    mac: str = ""
    """``<key id>.<HMAC>`` of ``hash``, on the last event of each commit (empty between)."""
    signature: str = ""
    """``<key id>.<Ed25519 signature>`` of the run head at this event, on the last event of
    a commit that decides (an approval, the end, a purge); see ``store._evidence``."""
    sealed: str = ""
    """The raw values redaction replaced in this event, encrypted under the run's data key
    (``store._sealing``); ``-`` once retention destroyed the key; empty if none."""
    meta_json: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """``meta`` as orjson wrote it when the journal built the row (the store writes it
    rather than encoding ``meta`` again); ``None`` otherwise. ``dataclasses.replace``
    leaves it out, so a row with other values never carries a stale one."""
    content_json: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """The same for ``content``."""

    @property
    def keyed(self) -> bool:
        """Whether this event was written with a key (and hashed as RFC 8785 JSON)."""
        return bool(self.mac)

    def hashed_metadata(self) -> dict[str, Any]:
        """The metadata the chain hash covers (content only through its digest; sealed raw
        values only as the fact that there are some, so deleting them is caught)."""
        hashed = {
            "run_id": self.run_id,
            "seq": self.seq,
            "type": self.type,
            "ts": self.ts,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "meta": self.meta,
            "content_digest": self.content_digest,
        }
        if self.sealed:
            hashed["sealed"] = True
        return hashed


def row_to_event(row: EventRow) -> Event:
    """Decode a stored row into a typed event."""
    return Event(
        run_id=row.run_id,
        seq=row.seq,
        ts=row.ts,
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_span_id=row.parent_span_id,
        data=join_data(row.meta, row.content),
        prev_hash=row.prev_hash,
        hash=row.hash,
        purged=row.content is None,
    )


def chain_conflict(rows: Sequence[EventRow], reason: str) -> ChainConflictError:
    """What every store raises when ``rows`` do not extend their run's chain."""
    first = rows[0] if rows else None
    where = f"run {first.run_id} at seq {first.seq}" if first else "an empty batch"
    return ChainConflictError(
        f"could not append to {where}: another writer extended this run first "
        f"({reason}). Reload the run and resume it instead of writing twice."
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RunBucket:
    """The runs started in one bucket of time (``Store.run_buckets``), counted in SQL."""

    index: int
    """The bucket's number from the origin: it covers ``[origin + index * width, ...)``."""
    runs: int
    finished: int
    resolved: int
    escalated: int
    draft_only: int
    failed: int
    cost_usd: float
    """Total cost of the finished runs whose cost is known."""
    priced: int
    """Finished runs whose cost is known."""
    priced_resolved: int
    """Resolved runs among those."""


def bucket_of(index: int, runs: Sequence[RunRecord]) -> RunBucket:
    """``runs`` counted as the SQL stores count them (for the in-memory store)."""
    finished = [run for run in runs if run.status == "finished"]
    priced = [run for run in finished if run.cost_usd is not None]
    outcomes = [run.outcome for run in finished]
    return RunBucket(
        index=index,
        runs=len(runs),
        finished=len(finished),
        resolved=outcomes.count("resolved"),
        escalated=outcomes.count("escalated"),
        draft_only=outcomes.count("draft_only"),
        failed=outcomes.count("failed"),
        cost_usd=sum(run.cost_usd or 0.0 for run in priced),
        priced=len(priced),
        priced_resolved=sum(run.outcome == "resolved" for run in priced),
    )


@dataclass(kw_only=True)
class RunFilter:
    """Which runs ``Store.list_runs`` returns, and in which order (newest first unless
    ``sort`` says otherwise)."""

    workflow: str | None = None
    status: str | None = None
    outcome: str | None = None
    limit: int = 50
    statuses: tuple[str, ...] = field(default_factory=tuple)
    run_ids: tuple[str, ...] = field(default_factory=tuple)
    """Only these runs (none given: any run)."""
    contract_hash: str | None = None
    """Only runs started under this contract version."""
    since: float | None = None
    """Only runs started at or after this time (epoch seconds)."""
    until: float | None = None
    """Only runs started before this time (epoch seconds)."""
    tenant: str | None = None
    """Only runs of this tenant."""
    model: str | None = None
    """Only runs started with this model spec."""
    before: tuple[float | str, ...] | None = None
    """A cursor: only runs after this position in ``sort``'s order (``sort_key`` of the
    last run seen; for the default order, ``(started_at, run_id)``)."""
    session: str | None = None
    """Only runs started with this session key."""
    search: str = ""
    """Only runs matching every word of this: a run id prefix, or text in the input, the
    answer or a tool's name (case-insensitive for ASCII letters)."""
    sort: RunSort = "-started"
    """The order: ``-started`` (newest first), ``started``, or by cost, duration, status."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayCallRecord:
    """One call to the OpenAI-compatible endpoint: who, which route, what it cost, how it ended.

    ``cost_usd`` is ``None`` when unknown (an unpriced model, or a failed call). ``status``
    is the HTTP status answered; ``error`` the error kind (``None`` on success).
    """

    ts: float
    key_name: str
    route: str
    deployment: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    cache_hit: bool = False
    status: int = 200
    error: str | None = None
    cached_input_tokens: int = 0
    """Of the input tokens, those read from the provider's prompt cache."""
    cache_write_tokens: int = 0
    """Of the input tokens, those written to the provider's prompt cache."""
    reasoning_tokens: int = 0
    """Of the output tokens, those the model spent reasoning."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SpendHold:
    """Money set aside against an API key's budget for one endpoint call in flight.

    The call's ledger row releases it (its cost then counts as spent, in the same
    transaction); a hold whose process died before that lapses at ``expires_at``.
    """

    hold_id: str
    key_name: str
    amount_usd: float
    expires_at: float


@dataclass(kw_only=True)
class ContractRecord:
    """One contract version, stored by content hash when the first run under it starts.

    ``body`` is the contract as loaded (JSON-ready, fields in model order), so
    ``digest(body) == content_hash``: a stored version proves its own identity.
    """

    content_hash: str
    workflow: str
    version: str
    body: dict[str, Any]
    created_at: float
    """When the first run under this version started."""
    retention_days: int | None = None
    """Copied from ``body`` so the store can select expired runs without parsing JSON."""
    runs: int = 0
    """Runs recorded under this version (filled in by ``Store.contracts``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PurgeRecord:
    """What retention removed from one run: payloads only; metadata and hashes stay."""

    run_id: str
    purged_at: float
    events: int
    """Events whose content was set to NULL."""
    bytes: int
    """Payload bytes freed (event content plus approval arguments)."""
    reason: str


@dataclass(kw_only=True, slots=True)
class CheckpointRecord:
    """A signed statement of every run's head at one moment (see ``proctor.audit``)."""

    seq: int
    created_at: float
    runs: int
    root: str
    """RFC 6962 Merkle root over the ``heads``."""
    prev_hash: str
    """The hash of the checkpoint before it (the genesis hash for the first)."""
    hash: str
    signature: str
    heads: list[tuple[str, int, str]] = field(default_factory=list)
    """``(run_id, last_seq, head_hash)`` of every run, sorted by run id: held by a
    checkpoint just made or exported; the store keeps only the latest head of each run
    (``Checkpoints.checkpoint_heads``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EvalResultRecord:
    """One stored ``proctor eval run`` result: columns to list and pick by, and its JSON.

    ``body`` is the result file's text (``SuiteResult`` as JSON); the store never parses
    it. ``Store.eval_results`` leaves it out (``None``), so listing stays cheap;
    ``Store.get_eval_result`` returns it.
    """

    result_id: str
    suite: str
    """The suite's name (``suite.yaml``'s ``name``, else its folder's)."""
    workflow: str
    """The workflow(s) the cases replayed, comma-separated when several."""
    created_at: float
    """When the suite run started (epoch seconds): ``latest`` is the largest."""
    cases: int
    passed: int
    failed: int
    model: str | None = None
    """The ``--model`` spec of a live replay (``None``: each case's own, or recorded)."""
    contract_hash: str | None = None
    """Content hash of the contract(s) the cases were judged by, comma-separated when several."""
    tenant: str = "default"
    """The tenant the result belongs to (the HTTP API shows it only to that tenant's keys)."""
    body: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKeyRecord:
    """An HTTP API key as stored: never the key itself, only its SHA-256 digest.

    A key is 32 random bytes, so a plain digest cannot be reversed or guessed, and a
    request is authenticated by one indexed lookup of its digest.
    """

    key_id: str
    """The key's public id (its first part), shown in lists and used to revoke it."""
    secret_hash: str
    role: str
    """``viewer``, ``operator``, ``approver`` or ``admin``."""
    tenant: str
    name: str
    """The key's label, shown in lists."""
    created_at: float
    revoked_at: float | None = None
    holder: str = ""
    """The person or service the key belongs to: runs it starts record it as
    ``started_by``, its decisions as ``decided_by``, and separation of duties compares it.
    Keys from before holders existed (empty) count as held by ``name``."""
    created_by: str = ""
    """The holder (or ``cli:<login>``) who minted the key."""

    @property
    def identity(self) -> str:
        """Who acts with this key: its holder."""
        return self.holder or self.name


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionRecord:
    """A web UI session as stored: the digest of its secret, never the secret itself.

    The session cookie carries the secret; signing out sets ``ended_at``, so a copy of
    the cookie stops working too, in every server process sharing the store. A session
    opened with an API key names the key; one opened with single sign-on names the person.
    """

    session_id: str
    """SHA-256 digest of the session's secret."""
    key_id: str
    """The API key the session signed in with; revoking it ends the session too. Empty
    for a person signed in with single sign-on: the fields below say who they are."""
    created_at: float
    expires_at: float
    ended_at: float | None = None
    issuer: str = ""
    """Single sign-on: the OpenID provider that vouched for the person (its issuer URL)."""
    subject: str = ""
    """Single sign-on: the person's id at ``issuer`` (the ID token's ``sub``, never reused)."""
    name: str = ""
    """Single sign-on: how the person is shown (e.g. their e-mail or user name)."""
    role: str = ""
    """Single sign-on: the Proctor role(s) their claims mapped to (``operator+approver``)."""
    tenant: str = ""
    """Single sign-on: the tenant the session acts in."""


QueueState = Literal["queued", "claimed", "waiting", "done"]


def check_release_state(state: str) -> None:
    """A run is released to the queue, to wait, or as done; never as claimed."""
    if state not in ("queued", "waiting", "done"):
        raise StoreError(f"cannot release a run as {state!r}: use queued, waiting or done")


@dataclass(kw_only=True)
class QueueItem:
    """A submitted run in the run queue: what to start, and which worker holds it.

    ``queued`` waits for a worker; ``claimed`` is held by ``worker`` until
    ``lease_until`` (renewed by its heartbeat); ``waiting`` awaits an approval, and is
    claimable again once the run's row no longer says ``awaiting_approval``; ``done``
    is finished (or given up after too many attempts).
    """

    run_id: str
    workflow: str
    """How to load the workflow: a registered name or ``package.module:attribute``."""
    input: dict[str, Any]
    tenant: str = "default"
    model: str | None = None
    submitted_by: str = ""
    priority: int = 0
    """Higher first; equal priorities in submission order."""
    submitted_at: float = 0.0
    state: QueueState = "queued"
    worker: str | None = None
    lease_until: float | None = None
    attempts: int = 0
    """How many times a lease expired under the item (its worker died, hung or failed)."""
    finished_at: float | None = None
    session: str | None = None
    """The session key the run starts with (``RunRecord.session``)."""


@dataclass(frozen=True, kw_only=True)
class DeliveryRecord:
    """One attempt to tell people about a pending approval or an escalated run on one
    channel (a webhook, an e-mail, a Slack message): the notification delivery log."""

    delivery_id: str
    subject_id: str
    """The approval announced (``ap_...``), or the run whose escalation is (``run_...``)."""
    channel: str
    attempt: int
    """1 for the first try on this channel, then 2, 3, ..."""
    at: float
    ok: bool
    detail: str = ""
    """What the receiver answered (``HTTP 200``, ``250 OK``), or why it failed."""
    next_at: float | None = None
    """When a failed attempt is tried again; ``None``: sent, or given up."""
