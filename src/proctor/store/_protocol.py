"""The store as roles: one narrow protocol per table group, and ``Store`` combining them.

A consumer asks for the narrowest role it uses (the gateway's cache a ``ResponseCache``,
retention a ``Retention``); the backends (SQLite, PostgreSQL, memory) implement them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from proctor.store._outcomes import DurationCount, OutcomeGroup, RunOutcomes
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
)
from proctor.store._run_query import RunTotals
from proctor.store._usage import GatewayUsage, UsageDimension


class RunLog(Protocol):
    """Runs and their event logs.

    ``append`` is the only way events enter the store. It is atomic: the rows, and the
    run or approval rows given with them, are all written or none is. Appending a
    sequence number a run already has raises ``ChainConflictError``, so two writers
    can never fork a chain.
    """

    async def create_run(
        self,
        run: RunRecord,
        first: EventRow,
        *,
        contract: ContractRecord | None = None,
        run_key: str | None = None,
    ) -> None:
        """Write a new run's record and first event; ``contract`` is stored with them,
        by content hash, unless that version is stored already, and ``run_key`` (the
        run's wrapped data key) unless the run has one already."""
        ...

    async def run_key(self, run_id: str) -> str | None:
        """The run's wrapped data key (``store._sealing``), if it has one."""
        ...

    async def save_run_key(self, run_id: str, wrapped: str, *, at: float) -> str:
        """Keep ``wrapped`` as the run's data key unless it has one; returns the one kept."""
        ...

    async def append(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, query: RunFilter) -> list[RunRecord]:
        """Runs matching ``query``, at most its limit, in its ``sort`` order (by default
        newest first: by ``started_at``, then ``run_id``)."""
        ...

    async def run_totals(self, query: RunFilter, *, cap: int | None = None) -> RunTotals:
        """What every run ``query`` matches adds up to (its limit, cursor and order aside);
        with ``cap``, only the newest ``cap`` of them (``capped`` says more match), which
        bounds the rows read on a large store."""
        ...

    async def run_buckets(
        self, query: RunFilter, *, origin: float, width_s: float
    ) -> list[RunBucket]:
        """The runs ``query`` matches (its limit and cursor aside) that started at or after
        ``origin``, counted per bucket of ``width_s`` seconds from it, in one aggregate
        query: only buckets with runs, oldest first."""
        ...

    async def run_outcomes(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[RunOutcomes]:
        """The runs ``query`` matches (its limit and cursor aside) summed per UTC day,
        ``group_by`` key and number of tool calls, in one aggregate query: only cells
        with runs, in that order."""
        ...

    async def run_durations(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[DurationCount]:
        """The finished runs ``query`` matches counted per (UTC day, ``group_by`` key,
        duration to two significant digits), shortest first: for latency percentiles."""
        ...

    async def escalation_triggers(self, query: RunFilter) -> list[tuple[str, int]]:
        """The ``escalated`` events of the runs ``query`` matches, counted by trigger
        (``unknown`` where none is recorded): most first, ties by the first to happen."""
        ...

    async def events_of_type(self, event_type: str, query: RunFilter) -> list[EventRow]:
        """Every event of ``event_type`` in the runs ``query`` matches (its limit and
        cursor aside), oldest first."""
        ...

    async def run_ids(self) -> list[str]: ...

    async def events(
        self,
        run_id: str,
        *,
        after: int = -1,
        limit: int | None = None,
        event_type: str | None = None,
    ) -> list[EventRow]:
        """The run's events with ``seq > after`` (of ``event_type`` only, if given), in
        order; at most ``limit`` of them."""
        ...


class Approvals(Protocol):
    """Approval requests, as ``RunLog.append`` wrote them."""

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None: ...

    async def list_approvals(
        self,
        status: str | None = "pending",
        *,
        tenant: str | None = None,
        decided_since: float | None = None,
        run_ids: Sequence[str] | None = None,
        order: ApprovalOrder = "requested",
        after: tuple[float, str] | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRecord]:
        """Approvals (with ``status``, of runs of ``tenant``, decided at or after
        ``decided_since``, of the runs ``run_ids``) in ``order``: oldest request first, or
        the latest decision first. A page: at most ``limit``, after the cursor ``after``
        (``approval_key`` of the last one seen)."""
        ...

    async def count_approvals(
        self, status: str | None = "pending", *, tenant: str | None = None, cap: int | None = None
    ) -> int:
        """How many approvals have ``status`` (of runs of ``tenant``): ``cap`` at most."""
        ...


class ResponseCache(Protocol):
    """The gateway's response cache: bytes by key until they expire."""

    async def cache_get(self, key: str, now: float) -> bytes | None:
        """The cached value of ``key``, or ``None`` if absent or expired at ``now``."""
        ...

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        """Store ``value`` under ``key`` until ``expires_at`` (epoch seconds), replacing any."""
        ...

    async def cache_put_many(self, entries: Sequence[tuple[str, bytes, float]]) -> None:
        """``cache_put`` each ``(key, value, expires_at)``, in one transaction."""
        ...

    async def cache_purge(self, now: float) -> int:
        """Delete the entries expired at ``now``; returns how many."""
        ...


class CallLedger(Protocol):
    """The OpenAI-compatible endpoint's ledger of calls and their cost."""

    async def record_gateway_calls(
        self, calls: Sequence[GatewayCallRecord], *, release: Sequence[tuple[str, float]] = ()
    ) -> None:
        """Append rows to the endpoint's call ledger and take ``(hold_id, usd)`` back from
        holds (a hold left with nothing is deleted), all in one transaction: a call's cost
        moves from its hold to its key's spend at once, never counted twice or not at all."""
        ...

    async def hold_gateway_spend(
        self,
        hold: SpendHold,
        *,
        needed_usd: float,
        since: float,
        limit_usd: float,
        now: float,
        give_back: tuple[str, float] | None = None,
    ) -> tuple[float | None, float]:
        """Set money aside for calls of ``hold``'s key against ``limit_usd``.

        ``give_back`` (hold id, USD) is first taken back from an older hold. What the key
        has committed is then its spend from ``since`` (the start of a UTC day) plus its
        holds live at ``now``. If that is below the limit with room for ``needed_usd``,
        the hold is kept, of ``hold.amount_usd`` or what is left if that is less. Atomic
        against every process sharing the store. Returns the USD held (``None``:
        refused) and the USD committed before.
        """
        ...

    async def gateway_spend(self, key_name: str, since: float) -> float:
        """USD spent by API key ``key_name`` from ``since`` (epoch seconds); unknown costs: 0."""
        ...

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        """The latest ledger rows (of one key, or all), newest first."""
        ...

    async def gateway_usage(
        self,
        by: Sequence[UsageDimension],
        *,
        since: float | None = None,
        until: float | None = None,
        key_name: str | None = None,
    ) -> list[GatewayUsage]:
        """Calls, tokens and spend of the ledger rows in ``[since, until)`` (of one key),
        one row per group of ``by`` (none: one total), oldest day first, then by spend."""
        ...


class ContractVersions(Protocol):
    """Contract versions, stored by content hash with the first run under each."""

    async def contracts(
        self, *, workflow: str | None = None, hash_prefix: str = ""
    ) -> list[ContractRecord]:
        """Stored contract versions (of one workflow, or whose hash starts with
        ``hash_prefix``), newest first, each with its number of runs."""
        ...


class Retention(Protocol):
    """Finished runs past their contract's retention, and purging their payloads."""

    async def expired_runs(self, now: float, *, workflow: str | None = None) -> list[RunRecord]:
        """Finished runs not yet purged whose contract's ``retention_days`` have passed
        since they finished, at ``now`` (epoch seconds). Oldest first."""
        ...

    async def purge_payloads(
        self,
        run_id: str,
        *,
        at: float,
        reason: str,
        dry_run: bool = False,
        record: Sequence[EventRow] = (),
        run: RunRecord | None = None,
    ) -> PurgeRecord:
        """Set the run's event content to NULL and empty its approvals' arguments and its
        queued input; destroy its data key and sealed payloads (crypto-shredding), keeping
        metadata, digests and hashes, and record the purge; one transaction, which
        also appends ``record`` (the chained ``purged`` event) and writes ``run`` (its new
        head). Refuses a run that is not finished. With ``dry_run`` nothing changes and
        the same figures are returned."""
        ...

    async def get_purge(self, run_id: str) -> PurgeRecord | None:
        """The purge retention made of ``run_id``, if any."""
        ...


class EvalResults(Protocol):
    """Stored ``proctor eval run`` results."""

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        """Keep one eval suite's result (``record.body`` is required). Saving a
        ``result_id`` that is stored already keeps the stored one."""
        ...

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        """Stored eval results (of one suite, or whose id starts with ``id_prefix``, of
        ``tenant``), newest first (by ``created_at``), without their bodies."""
        ...

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        """One stored eval result, with its body."""
        ...


class Deliveries(Protocol):
    """The notification delivery log: every attempt to tell people about an approval or an
    escalated run."""

    async def claim_delivery(self, record: DeliveryRecord) -> bool:
        """Keep an attempt about to be made, unless its subject, channel and attempt number
        (or its ``delivery_id``) are kept already: whether it was kept. Of several
        processes announcing the same thing, only the one whose claim is kept sends."""
        ...

    async def settle_delivery(self, record: DeliveryRecord) -> None:
        """Record how a claimed attempt went (the one with ``record.delivery_id``)."""
        ...

    async def deliveries(
        self, subject_ids: Sequence[str] | None = None, *, limit: int = 1000
    ) -> list[DeliveryRecord]:
        """Attempts (for these approvals and runs, or all), oldest first."""
        ...


class ApiKeys(Protocol):
    """The HTTP API's keys, kept as digests."""

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        """Keep a new HTTP API key's record (its digest, role, tenant, holder)."""
        ...

    async def api_key(self, secret_hash: str) -> ApiKeyRecord | None:
        """The key whose SHA-256 digest is ``secret_hash`` (revoked ones included)."""
        ...

    async def api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        """Every key (of ``tenant``), newest first."""
        ...

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        """Mark a key revoked at ``at`` (a revoked one keeps its first time); ``None`` if
        there is no such key."""
        ...


class Sessions(Protocol):
    """The web UI's sign-in sessions, kept as digests (unrelated to a run's ``session``
    key, which ``RunRecord.session`` holds and ``RunFilter.session`` lists by)."""

    async def save_session(self, record: SessionRecord) -> None:
        """Keep a new UI session; sessions expired before it was created are deleted."""
        ...

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session whose secret's digest is ``session_id`` (ended ones included)."""
        ...

    async def end_session(self, session_id: str, at: float) -> SessionRecord | None:
        """Mark a session ended at ``at`` (an ended one keeps its first time); ``None`` if
        there is no such session."""
        ...


class RunQueue(Protocol):
    """Submitted runs waiting for (or held by) workers, with leases."""

    async def enqueue(self, item: QueueItem, *, run_key: str | None = None) -> None:
        """Add a submitted run to the run queue, and ``run_key`` (the wrapped data key its
        sealed input needs) in the same transaction; a ``run_id`` queued already is refused."""
        ...

    async def claim_runs(
        self,
        worker: str,
        *,
        now: float,
        lease_s: float,
        limit: int,
        workflows: Sequence[str] | None = None,
        concurrency: dict[str, int] | None = None,
    ) -> list[QueueItem]:
        """Claim up to ``limit`` items for ``worker`` until ``now + lease_s``, atomically.

        Claimable: ``queued`` items; ``claimed`` ones whose lease expired before ``now``
        (their ``attempts`` go up by one); ``waiting`` ones whose run no longer awaits
        approval. Highest priority first, then oldest; only of ``workflows`` if given;
        at most ``concurrency[workflow]`` live leases per workflow named there.
        """
        ...

    async def claim_run(self, item: QueueItem, worker: str, *, now: float, lease_s: float) -> bool:
        """Claim one run for ``worker`` until ``now + lease_s``, for a process that drives it
        outside the queue (resuming an interrupted run), atomically.

        The run's queue item is added claimed (from ``item``) if it has none, or taken
        over if nobody holds it: ``done``, or ``claimed`` with a lease expired before
        ``now``. False if another holds a live lease, or workers are to drive it
        (``queued``, ``waiting``). Renew and release it like any claim.
        """
        ...

    async def renew_leases(
        self, worker: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> list[str]:
        """Extend ``worker``'s leases on ``run_ids`` to ``now + lease_s``; returns the ids
        it still holds (one another worker took over is not renewed)."""
        ...

    async def release_run(self, run_id: str, worker: str, *, state: QueueState, now: float) -> bool:
        """Hand an item back as ``done`` (finished), ``waiting`` (awaits approval) or
        ``queued`` (lease and worker cleared), if ``worker`` still holds it."""
        ...

    async def queue_items(
        self,
        *,
        state: QueueState | None = None,
        limit: int = 100,
        run_ids: Sequence[str] | None = None,
    ) -> list[QueueItem]:
        """Queue items (in ``state``, of ``run_ids``), in claiming order: priority, then age."""
        ...


class Checkpoints(Protocol):
    """The store's checkpoint log: signed statements of every run's head."""

    async def add_checkpoint(
        self, record: CheckpointRecord, changed: Sequence[tuple[str, int, str]]
    ) -> None:
        """Append ``record`` (its ``seq`` one past the last) and set the signed head of
        each run in ``changed``, in one transaction."""
        ...

    async def checkpoints(self) -> list[CheckpointRecord]:
        """Every checkpoint (without heads), oldest first."""
        ...

    async def checkpoint_heads(self) -> list[tuple[str, int, str]]:
        """Each run's head as the latest checkpoint signed it, by run id."""
        ...

    async def checkpoint_head(self, run_id: str) -> tuple[int, str] | None:
        """``(seq, hash)`` of ``run_id`` as the latest checkpoint signed it, if any."""
        ...

    async def run_heads(self) -> list[tuple[str, int, str]]:
        """``(run_id, seq, hash)`` of every run's last event, by run id (from the log, which
        may be ahead of the run record)."""
        ...


class Health(Protocol):
    """Whether the database answers, for readiness probes (``check_store``)."""

    async def schema_version_now(self) -> int:
        """The schema version the database holds, read now (one round trip). Raises
        ``StoreError`` if the database cannot be reached."""
        ...


class Store(
    RunLog,
    Checkpoints,
    Approvals,
    ResponseCache,
    CallLedger,
    ContractVersions,
    Retention,
    EvalResults,
    Deliveries,
    ApiKeys,
    Sessions,
    RunQueue,
    Health,
    Protocol,
):
    """Durable home of runs, their event logs, approvals, the gateway's cache, eval results:
    every role, and ``close``."""

    async def close(self) -> None: ...
