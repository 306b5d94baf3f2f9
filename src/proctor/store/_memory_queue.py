"""``MemoryStore``'s run queue: the SQL stores' claiming rules, for workers under test."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from proctor.errors import StoreError
from proctor.store._records import QueueItem, QueueState, RunRecord, check_release_state


class MemoryRunQueue:
    """``RunQueue``. Reads the run rows (``_runs``) the store keeps: a waiting item is
    claimable once its run no longer awaits approval."""

    _runs: dict[str, RunRecord]
    _run_keys: dict[str, str]

    def __init__(self) -> None:
        super().__init__()
        self._queue: dict[str, QueueItem] = {}

    async def enqueue(self, item: QueueItem, *, run_key: str | None = None) -> None:
        if item.run_id in self._queue:
            raise StoreError(f"run {item.run_id} is queued already")
        self._queue[item.run_id] = dataclasses.replace(item)
        if run_key is not None:
            self._run_keys.setdefault(item.run_id, run_key)

    def _forget_input(self, run_id: str) -> None:
        """Retention: the item's input goes with the run's payloads."""
        item = self._queue.get(run_id)
        if item is not None:
            self._queue[run_id] = dataclasses.replace(item, input={})

    def _claimable(self, item: QueueItem, now: float) -> bool:
        run = self._runs.get(item.run_id)
        return (
            item.state == "queued"
            or (item.state == "claimed" and (item.lease_until or 0.0) < now)
            or (item.state == "waiting" and run is not None and run.status != "awaiting_approval")
        )

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
            if not self._claimable(item, now) or (
                workflows is not None and item.workflow not in workflows
            ):
                continue
            cap = (concurrency or {}).get(item.workflow)
            if cap is not None:
                if live.get(item.workflow, 0) >= cap:
                    continue
                live[item.workflow] = live.get(item.workflow, 0) + 1
            held = self._queue[item.run_id]
            held.attempts += held.state == "claimed"  # its lease expired: a retry
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
        check_release_state(state)
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
