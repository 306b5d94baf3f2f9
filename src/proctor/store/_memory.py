"""``MemoryStore``: every role of ``Store`` in process memory; nothing reaches a disk.

Replays run in it: a replayed run is driven by the same loop as a live one, so it needs
a store; its log is read once, for the checks, and then dropped (``forget``). It keeps
the stores' contract (the shared store tests run against it too): appends extend a
run's chain without a gap or a fork, or raise ``ChainConflictError`` and write nothing;
contract versions, retention, the cache, the ledger, keys, sessions, eval results and
the run queue behave as on SQLite, for tests of code that uses them without a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import orjson

from proctor.errors import RunStateError, StoreError
from proctor.store._memory_queue import MemoryRunQueue
from proctor.store._memory_tables import MemoryTables
from proctor.store._migrations import SCHEMA_VERSION
from proctor.store._outcomes import (
    DurationCount,
    OutcomeGroup,
    RunOutcomes,
    day_number,
    durations_of,
    group_key,
    outcomes_of,
    triggers_of,
)
from proctor.store._records import (
    ApprovalOrder,
    ApprovalRecord,
    CheckpointRecord,
    ContractRecord,
    EventRow,
    PurgeRecord,
    RunBucket,
    RunFilter,
    RunRecord,
    approval_key,
    bucket_of,
    chain_conflict,
)
from proctor.store._run_query import RunTotals, search_terms, sort_key, totals_of
from proctor.store._sealing import SHREDDED


class MemoryStore(MemoryRunQueue, MemoryTables):
    """A ``Store`` in process memory, for replays and tests."""

    def __init__(self) -> None:
        super().__init__()
        self._runs = {}
        self._events: dict[str, list[EventRow]] = {}
        self._approvals: dict[str, ApprovalRecord] = {}
        self._contracts: dict[str, ContractRecord] = {}
        self._purges: dict[str, PurgeRecord] = {}
        self._checkpoints: list[CheckpointRecord] = []
        self._signed_heads: dict[str, tuple[int, str]] = {}
        self._run_keys: dict[str, str] = {}

    # Checkpoints.

    async def add_checkpoint(
        self, record: CheckpointRecord, changed: Sequence[tuple[str, int, str]]
    ) -> None:
        if record.seq != len(self._checkpoints):
            raise StoreError(
                f"checkpoint {record.seq} does not follow checkpoint "
                f"{len(self._checkpoints) - 1}: another process checkpointed first; retry"
            )
        self._checkpoints.append(dataclasses.replace(record, heads=[]))
        for run_id, seq, hash_ in changed:
            self._signed_heads[run_id] = (seq, hash_)

    async def checkpoints(self) -> list[CheckpointRecord]:
        return [dataclasses.replace(record) for record in self._checkpoints]

    async def checkpoint_heads(self) -> list[tuple[str, int, str]]:
        return [(rid, seq, hash_) for rid, (seq, hash_) in sorted(self._signed_heads.items())]

    async def checkpoint_head(self, run_id: str) -> tuple[int, str] | None:
        return self._signed_heads.get(run_id)

    async def run_heads(self) -> list[tuple[str, int, str]]:
        return [
            (rid, log[-1].seq, log[-1].hash) for rid, log in sorted(self._events.items()) if log
        ]

    # RunLog and Approvals.

    async def create_run(
        self,
        run: RunRecord,
        first: EventRow,
        *,
        contract: ContractRecord | None = None,
        run_key: str | None = None,
    ) -> None:
        self._write([first], run, None)
        if contract is not None:
            self._contracts.setdefault(contract.content_hash, contract)
        if run_key is not None:
            self._run_keys.setdefault(run.run_id, run_key)

    async def run_key(self, run_id: str) -> str | None:
        return self._run_keys.get(run_id)

    async def save_run_key(self, run_id: str, wrapped: str, *, at: float) -> str:
        return self._run_keys.setdefault(run_id, wrapped)

    async def append(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None:
        self._write(rows, run, approval)

    def _write(
        self, rows: Sequence[EventRow], run: RunRecord | None, approval: ApprovalRecord | None
    ) -> None:
        # Every row is checked before any is kept: a batch is written whole or not at all.
        heads: dict[str, tuple[int, str]] = {}
        for row in rows:
            log = self._events.get(row.run_id, [])
            seq, head = heads.get(row.run_id) or (len(log), log[-1].hash if log else "")
            if row.seq != seq or (seq > 0 and row.prev_hash != head):
                raise chain_conflict(rows, f"event {row.seq} does not extend the chain head")
            heads[row.run_id] = (seq + 1, row.hash)
        for row in rows:
            self._events.setdefault(row.run_id, []).append(row)
        if run is not None:
            self._runs[run.run_id] = run
        if approval is not None:
            self._approvals[approval.approval_id] = approval

    def forget(self, run_id: str) -> None:
        """Drop a run, its log, its approvals and its purge (a replay keeps only its verdict)."""
        self._runs.pop(run_id, None)
        self._events.pop(run_id, None)
        self._purges.pop(run_id, None)
        for approval_id in [a.approval_id for a in self._approvals.values() if a.run_id == run_id]:
            del self._approvals[approval_id]

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    def _matching(self, query: RunFilter) -> list[RunRecord]:
        terms = search_terms(query.search)
        found = [
            run
            for run in self._runs.values()
            if (query.tenant is None or run.tenant == query.tenant)
            and (query.workflow is None or run.workflow == query.workflow)
            and (query.status is None or run.status == query.status)
            and (query.outcome is None or run.outcome == query.outcome)
            and (query.model is None or run.model == query.model)
            and (not query.statuses or run.status in query.statuses)
            and (not query.run_ids or run.run_id in query.run_ids)
            and (query.contract_hash is None or run.contract_hash == query.contract_hash)
            and (query.since is None or run.started_at >= query.since)
            and (query.until is None or run.started_at < query.until)
            and (query.session is None or run.session == query.session)
            and all(_found(run, term) for term in terms)
        ]
        descending = query.sort.startswith("-")
        if query.before is not None:
            after = query.before
            found = [
                run
                for run in found
                if (
                    sort_key(query.sort, run) < after
                    if descending
                    else sort_key(query.sort, run) > after
                )
            ]
        found.sort(key=lambda run: sort_key(query.sort, run), reverse=descending)
        return found

    async def list_runs(self, query: RunFilter) -> list[RunRecord]:
        return self._matching(query)[: query.limit]

    async def run_buckets(
        self, query: RunFilter, *, origin: float, width_s: float
    ) -> list[RunBucket]:
        if width_s <= 0:
            raise ValueError(f"a bucket must be longer than 0 s, not {width_s}")
        buckets: dict[int, list[RunRecord]] = {}
        for run in self._matching(query):
            if run.started_at >= origin:
                buckets.setdefault(int((run.started_at - origin) // width_s), []).append(run)
        return [bucket_of(index, buckets[index]) for index in sorted(buckets)]

    async def run_outcomes(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[RunOutcomes]:
        key = group_key(group_by)
        cells: dict[tuple[int, str, int], list[RunRecord]] = {}
        for run in self._matching(query):
            cell = (day_number(run.started_at), key(run), run.tool_calls)
            cells.setdefault(cell, []).append(run)
        return [outcomes_of(*cell, cells[cell]) for cell in sorted(cells)]

    async def run_durations(
        self, query: RunFilter, *, group_by: OutcomeGroup | None = None
    ) -> list[DurationCount]:
        key = group_key(group_by)
        return durations_of(
            (day_number(run.started_at), key(run), run.duration_s)
            for run in self._matching(query)
            if run.status == "finished"
        )

    async def escalation_triggers(self, query: RunFilter) -> list[tuple[str, int]]:
        return triggers_of(await self.events_of_type("escalated", query))

    async def run_totals(self, query: RunFilter, *, cap: int | None = None) -> RunTotals:
        found = self._matching(dataclasses.replace(query, before=None, sort="-started"))
        return totals_of(found[:cap], capped=cap is not None and len(found) > cap)

    async def events_of_type(self, event_type: str, query: RunFilter) -> list[EventRow]:
        found = [
            row
            for run in self._matching(query)
            for row in self._events.get(run.run_id, ())
            if row.type == event_type
        ]
        return sorted(found, key=lambda row: (row.ts, row.run_id, row.seq))

    async def run_ids(self) -> list[str]:
        return sorted(run_id for run_id, log in self._events.items() if log)

    async def events(
        self,
        run_id: str,
        *,
        after: int = -1,
        limit: int | None = None,
        event_type: str | None = None,
    ) -> list[EventRow]:
        log = self._events.get(run_id, [])[max(after + 1, 0) :]  # a row's seq is its index
        if event_type is not None:
            log = [row for row in log if row.type == event_type]
        return log if limit is None else log[:limit]

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        return self._approvals.get(approval_id)

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
        found = [
            a
            for a in self._matching_approvals(status, tenant, run_ids)
            if (decided_since is None or (a.decided_at or -1.0) >= decided_since)
            and (order == "requested" or a.decided_at is not None)
        ]
        newest = order == "-decided"
        found.sort(key=lambda a: approval_key(order, a), reverse=newest)
        if after is not None:
            found = [a for a in found if _beyond(approval_key(order, a), after, newest)]
        return found if limit is None else found[:limit]

    async def count_approvals(
        self, status: str | None = "pending", *, tenant: str | None = None, cap: int | None = None
    ) -> int:
        count = sum(1 for _ in self._matching_approvals(status, tenant, None))
        return count if cap is None else min(count, cap)

    def _matching_approvals(
        self, status: str | None, tenant: str | None, run_ids: Sequence[str] | None
    ) -> Iterator[ApprovalRecord]:
        wanted = None if run_ids is None else set(run_ids)
        for a in self._approvals.values():
            if (
                (status is None or a.status == status)
                and (wanted is None or a.run_id in wanted)
                and (tenant is None or getattr(self._runs.get(a.run_id), "tenant", None) == tenant)
            ):
                yield a

    # ContractVersions and Retention.

    async def contracts(
        self, *, workflow: str | None = None, hash_prefix: str = ""
    ) -> list[ContractRecord]:
        found = [
            dataclasses.replace(
                c, runs=sum(r.contract_hash == c.content_hash for r in self._runs.values())
            )
            for c in self._contracts.values()
            if c.content_hash.startswith(hash_prefix)
            and (workflow is None or c.workflow == workflow)
        ]
        found.sort(key=lambda c: c.content_hash)
        found.sort(key=lambda c: c.created_at, reverse=True)
        return found

    async def expired_runs(self, now: float, *, workflow: str | None = None) -> list[RunRecord]:
        found = []
        for run in self._runs.values():
            contract = self._contracts.get(run.contract_hash)
            days = None if contract is None else contract.retention_days
            if (
                run.status == "finished"
                and run.finished_at is not None
                and days is not None
                and run.finished_at + days * 86400.0 <= now
                and run.run_id not in self._purges
                and (workflow is None or run.workflow == workflow)
            ):
                found.append(run)
        return sorted(found, key=lambda run: (run.finished_at or 0.0, run.run_id))

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
        run = self._runs.get(run_id)
        if run is None or run.status != "finished":
            raise RunStateError(
                f"run {run_id} is {run.status if run else 'not in this store'}: "
                "only finished runs can have their payloads purged"
            )
        # Sizes as the SQL stores count them: the bytes of the stored JSON.
        log = self._events.get(run_id, [])
        purged = [n for n, row in enumerate(log) if row.content]
        approvals = [a for a in self._approvals.values() if a.run_id == run_id]
        size = sum(len(orjson.dumps(log[n].content)) for n in purged) + sum(
            len(orjson.dumps(a.arguments)) for a in approvals if a.arguments
        )
        purge = PurgeRecord(
            run_id=run_id, purged_at=at, events=len(purged), bytes=size, reason=reason
        )
        if not dry_run:
            for n in purged:
                log[n] = dataclasses.replace(log[n], content=None)
            for n, row in enumerate(log):
                if row.sealed:
                    log[n] = dataclasses.replace(row, sealed=SHREDDED)
            self._run_keys.pop(run_id, None)
            self._forget_input(run_id)
            for a in approvals:
                self._approvals[a.approval_id] = dataclasses.replace(a, arguments={})
            if record:
                await self.append(record, run=run)
            # The summary row's copies of the input and answer (for search) go too.
            self._runs[run_id] = dataclasses.replace(
                self._runs[run_id], input_text="", answer_text=""
            )
            before = self._purges.get(run_id)
            self._purges[run_id] = (
                purge
                if before is None
                else dataclasses.replace(
                    purge, events=before.events + purge.events, bytes=before.bytes + purge.bytes
                )
            )
        return purge

    async def get_purge(self, run_id: str) -> PurgeRecord | None:
        return self._purges.get(run_id)

    async def schema_version_now(self) -> int:
        """Always current: the store is this process's own memory."""
        return SCHEMA_VERSION

    async def close(self) -> None:
        """Nothing to release: the store lives as long as the object."""


def _found(run: RunRecord, term: str) -> bool:
    """Whether ``run`` matches one search word as the SQL stores match it (a run id
    prefix, or text in the input, the answer or the tools' names; ASCII case ignored)."""
    return _ascii_lower(run.run_id).startswith(term) or any(
        term in _ascii_lower(text) for text in (run.input_text, run.answer_text, run.tools_used)
    )


def _ascii_lower(text: str) -> str:
    # SQLite's lower() folds ASCII letters only; PostgreSQL's folds all of them.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _beyond(key: tuple[float, str], after: tuple[float, str], descending: bool) -> bool:
    return key < after if descending else key > after
