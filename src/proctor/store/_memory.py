"""``MemoryStore``: the scratch store replays run in; nothing reaches a disk.

A replayed run is driven by the same loop as a live one, so it needs a store; its log
is read once, for the checks, and then dropped (``forget``). Appends keep the chain's
one rule (each batch extends the run's log without a gap); everything a replay never
uses (the response cache, the gateway's ledger, contract versions, retention) is empty.
Eval results are kept, as the SQLite store keeps them, for tests of code that saves them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from proctor.errors import ChainConflictError, StoreError, UsageError
from proctor.store._records import (
    ApiKeyRecord,
    ApprovalRecord,
    ContractRecord,
    EvalResultRecord,
    EventRow,
    GatewayCallRecord,
    PurgeRecord,
    QueueItem,
    QueueState,
    RunFilter,
    RunRecord,
    SessionRecord,
)


class MemoryStore:
    """A ``Store`` in process memory, for replays."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._events: dict[str, list[EventRow]] = {}
        self._approvals: dict[str, ApprovalRecord] = {}
        self._eval_results: dict[str, EvalResultRecord] = {}
        self._keys: dict[str, ApiKeyRecord] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._queue: dict[str, QueueItem] = {}

    async def create_run(
        self, run: RunRecord, first: EventRow, *, contract: ContractRecord | None = None
    ) -> None:
        if run.run_id in self._runs:
            raise ChainConflictError(f"run {run.run_id} exists already")
        self._events[run.run_id] = []
        self._write([first], run, None)

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
        if rows:
            log = self._events.get(rows[0].run_id)
            if log is None or rows[0].seq != len(log):
                raise ChainConflictError(
                    f"run {rows[0].run_id}: event {rows[0].seq} does not extend its log"
                )
            log.extend(rows)
        if run is not None:
            self._runs[run.run_id] = run
        if approval is not None:
            self._approvals[approval.approval_id] = approval

    def forget(self, run_id: str) -> None:
        """Drop a run, its log and its approvals (a replay keeps only its verdict)."""
        self._runs.pop(run_id, None)
        self._events.pop(run_id, None)
        for approval_id in [a.approval_id for a in self._approvals.values() if a.run_id == run_id]:
            del self._approvals[approval_id]

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    def _matching(self, query: RunFilter) -> list[RunRecord]:
        found = [
            run
            for run in self._runs.values()
            if (query.tenant is None or run.tenant == query.tenant)
            and (query.workflow is None or run.workflow == query.workflow)
            and (query.status is None or run.status == query.status)
            and (query.outcome is None or run.outcome == query.outcome)
            and (query.model is None or run.model == query.model)
            and (not query.statuses or run.status in query.statuses)
            and (query.contract_hash is None or run.contract_hash == query.contract_hash)
            and (query.since is None or run.started_at >= query.since)
            and (query.until is None or run.started_at < query.until)
            and (query.before is None or (run.started_at, run.run_id) < query.before)
        ]
        found.sort(key=lambda run: (run.started_at, run.run_id), reverse=True)
        return found

    async def list_runs(self, query: RunFilter) -> list[RunRecord]:
        return self._matching(query)[: query.limit]

    async def events_of_type(self, event_type: str, query: RunFilter) -> list[EventRow]:
        found = [
            row
            for run in self._matching(query)
            for row in self._events.get(run.run_id, ())
            if row.type == event_type
        ]
        return sorted(found, key=lambda row: row.ts)

    async def run_ids(self) -> list[str]:
        return list(self._runs)

    async def events(
        self, run_id: str, *, after: int = -1, limit: int | None = None
    ) -> list[EventRow]:
        log = self._events.get(run_id, [])[after + 1 :]
        return log if limit is None else log[:limit]

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        return self._approvals.get(approval_id)

    async def list_approvals(
        self, status: str | None = "pending", *, tenant: str | None = None
    ) -> list[ApprovalRecord]:
        return [
            a
            for a in self._approvals.values()
            if (status is None or a.status == status)
            and (tenant is None or getattr(self._runs.get(a.run_id), "tenant", None) == tenant)
        ]

    async def cache_get(self, key: str, now: float) -> bytes | None:
        return None

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        return None

    async def cache_purge(self, now: float) -> int:
        return 0

    async def record_gateway_calls(self, calls: Sequence[GatewayCallRecord]) -> None:
        return None

    async def gateway_spend(self, key_name: str, since: float) -> float:
        return 0.0

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        return []

    async def contracts(
        self, *, workflow: str | None = None, hash_prefix: str = ""
    ) -> list[ContractRecord]:
        return []

    async def expired_runs(self, now: float, *, workflow: str | None = None) -> list[RunRecord]:
        return []

    async def purge_payloads(
        self, run_id: str, *, at: float, reason: str, dry_run: bool = False
    ) -> PurgeRecord:
        raise StoreError("a replay's scratch store keeps no payloads to purge")

    async def get_purge(self, run_id: str) -> PurgeRecord | None:
        return None

    async def save_eval_result(self, record: EvalResultRecord) -> None:
        if record.body is None:
            raise UsageError(f"eval result {record.result_id}: save_eval_result needs its body")
        self._eval_results.setdefault(record.result_id, record)

    async def eval_results(
        self,
        suite: str | None = None,
        *,
        id_prefix: str = "",
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[EvalResultRecord]:
        found = [
            dataclasses.replace(record, body=None)
            for record in self._eval_results.values()
            if (suite is None or record.suite == suite)
            and (tenant is None or record.tenant == tenant)
            and record.result_id.startswith(id_prefix)
        ]
        found.sort(key=lambda record: (record.created_at, record.result_id), reverse=True)
        return found[:limit]

    async def get_eval_result(self, result_id: str) -> EvalResultRecord | None:
        return self._eval_results.get(result_id)

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        if any(k.secret_hash == record.secret_hash for k in self._keys.values()):
            raise StoreError(f"could not save the API key: {record.key_id} exists already")
        self._keys[record.key_id] = record

    async def api_key(self, secret_hash: str) -> ApiKeyRecord | None:
        return next((k for k in self._keys.values() if k.secret_hash == secret_hash), None)

    async def api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        found = [k for k in self._keys.values() if tenant is None or k.tenant == tenant]
        return sorted(found, key=lambda k: (-k.created_at, k.key_id))

    async def revoke_api_key(self, key_id: str, at: float) -> ApiKeyRecord | None:
        key = self._keys.get(key_id)
        if key is not None and key.revoked_at is None:
            key = self._keys[key_id] = dataclasses.replace(key, revoked_at=at)
        return key

    async def save_session(self, record: SessionRecord) -> None:
        self._sessions = {
            key: kept
            for key, kept in self._sessions.items()
            if kept.expires_at >= record.created_at
        }
        self._sessions[record.session_id] = record

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def end_session(self, session_id: str, at: float) -> SessionRecord | None:
        session = self._sessions.get(session_id)
        if session is not None and session.ended_at is None:
            session = self._sessions[session_id] = dataclasses.replace(session, ended_at=at)
        return session

    # The run queue: in memory, for tests of workers that need no database.

    async def enqueue(self, item: QueueItem) -> None:
        if item.run_id in self._queue:
            raise StoreError(f"run {item.run_id} is queued already")
        self._queue[item.run_id] = dataclasses.replace(item)

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
        live: dict[str, int] = {}
        for item in self._queue.values():
            if item.state == "claimed" and (item.lease_until or 0.0) >= now:
                live[item.workflow] = live.get(item.workflow, 0) + 1
        chosen: list[QueueItem] = []
        for item in await self.queue_items(limit=len(self._queue)):
            if len(chosen) >= limit:
                break
            run = self._runs.get(item.run_id)
            claimable = (
                item.state == "queued"
                or (item.state == "claimed" and (item.lease_until or 0.0) < now)
                or (
                    item.state == "waiting"
                    and run is not None
                    and run.status != "awaiting_approval"
                )
            )
            cap = (concurrency or {}).get(item.workflow)
            if not claimable or (workflows is not None and item.workflow not in workflows):
                continue
            if cap is not None and live.get(item.workflow, 0) >= cap:
                continue
            live[item.workflow] = live.get(item.workflow, 0) + 1
            held = self._queue[item.run_id]
            held.attempts += held.state == "claimed"
            held.state, held.worker, held.lease_until = "claimed", worker, now + lease_s
            chosen.append(dataclasses.replace(held))
        return chosen

    async def claim_run(self, item: QueueItem, worker: str, *, now: float, lease_s: float) -> bool:
        held = self._queue.get(item.run_id)
        if held is None:
            held = self._queue[item.run_id] = dataclasses.replace(item, state="done")
        lapsed = held.state == "claimed" and (held.lease_until or 0.0) < now
        if held.state != "done" and not lapsed:
            return False
        held.attempts += lapsed
        held.state, held.worker, held.lease_until = "claimed", worker, now + lease_s
        held.finished_at = None
        return True

    async def renew_leases(
        self, worker: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> list[str]:
        held = []
        for run_id in run_ids:
            item = self._queue.get(run_id)
            if item is not None and item.state == "claimed" and item.worker == worker:
                item.lease_until = now + lease_s
                held.append(run_id)
        return held

    async def release_run(self, run_id: str, worker: str, *, state: QueueState, now: float) -> bool:
        item = self._queue.get(run_id)
        if item is None or item.state != "claimed" or item.worker != worker:
            return False
        item.state, item.lease_until = state, None
        if state == "queued":
            item.worker = None
        if state == "done":
            item.finished_at = now
        return True

    async def queue_items(
        self,
        *,
        state: QueueState | None = None,
        limit: int = 100,
        run_ids: Sequence[str] | None = None,
    ) -> list[QueueItem]:
        found = [
            i
            for i in self._queue.values()
            if (state is None or i.state == state) and (run_ids is None or i.run_id in run_ids)
        ]
        found.sort(key=lambda i: (-i.priority, i.submitted_at, i.run_id))
        return [dataclasses.replace(i) for i in found[:limit]]

    async def close(self) -> None:
        return None
