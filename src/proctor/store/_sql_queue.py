"""The run queue (``run_queue``, migration 8) in SQL written once: claims that never hand
one item to two workers.

A claim reads the claimable rows and updates them in one transaction. SQLite's
``BEGIN IMMEDIATE`` takes its one write lock first, so claimers take turns; PostgreSQL
reads ``FOR UPDATE SKIP LOCKED``, so claimers on any number of hosts claim side by
side. Per-workflow concurrency limits count live leases, which rows another claimer
has locked but not yet committed would escape: there, claims with limits take the
dialect's queue lock first, so they count one after another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import orjson

from proctor.errors import StoreError
from proctor.store._records import QueueItem, QueueState, check_release_state
from proctor.store._sql_base import SQLBase, insert
from proctor.store._sql_runs import INSERT_RUN_KEY

QUEUE_COLUMNS = tuple(f.name for f in fields(QueueItem))
SELECT = f"SELECT {', '.join(f'q.{c}' for c in QUEUE_COLUMNS)} FROM run_queue q"
ENQUEUE = f"{insert('run_queue', QUEUE_COLUMNS)} ON CONFLICT (run_id) DO NOTHING"
SELECT_QUEUED = "SELECT 1 FROM run_queue WHERE run_id = ?"
# What a worker may claim: new items, items whose holder stopped renewing its lease, and
# items that waited for an approval which has since been decided (or the run finished).
CLAIMABLE = (
    "(q.state = 'queued' OR (q.state = 'claimed' AND q.lease_until < ?) "
    "OR (q.state = 'waiting' AND EXISTS (SELECT 1 FROM runs r "
    "WHERE r.run_id = q.run_id AND r.status <> 'awaiting_approval')))"
)
CLAIM_ORDER = "ORDER BY q.priority DESC, q.submitted_at, q.run_id"
CLAIM = (
    "UPDATE run_queue SET state = 'claimed', worker = ?, lease_until = ?, attempts = ? "
    "WHERE run_id = ?"
)
LIVE_LEASES = (
    "SELECT workflow, COUNT(*) FROM run_queue "
    "WHERE state = 'claimed' AND lease_until >= ? GROUP BY workflow"
)
# A run claimed by one process outside the queue: added claimed, or taken over from
# nobody (done, or a lapsed lease); a retry counts as an attempt, as in claim_runs. On
# PostgreSQL a concurrent claim of the same run waits for this row lock, then finds it held.
CLAIM_ONE = (
    f"{insert('run_queue', QUEUE_COLUMNS)} ON CONFLICT (run_id) DO UPDATE SET "
    "state = 'claimed', worker = excluded.worker, lease_until = excluded.lease_until, "
    "finished_at = NULL, "
    "attempts = run_queue.attempts + CASE WHEN run_queue.state = 'claimed' THEN 1 ELSE 0 END "
    "WHERE run_queue.state = 'done' OR (run_queue.state = 'claimed' AND run_queue.lease_until < ?) "
    "RETURNING run_id"
)
RELEASE = (
    "UPDATE run_queue SET state = ?, lease_until = NULL, "
    "worker = CASE WHEN CAST(? AS TEXT) = 'queued' THEN NULL ELSE worker END, "
    "finished_at = CASE WHEN CAST(? AS TEXT) = 'done' THEN ? ELSE finished_at END "
    "WHERE run_id = ? AND worker = ? AND state = 'claimed' RETURNING run_id"
)


def queue_params(item: QueueItem) -> tuple[Any, ...]:
    return tuple(
        orjson.dumps(item.input).decode() if column == "input" else getattr(item, column)
        for column in QUEUE_COLUMNS
    )


def queue_item(row: Sequence[Any]) -> QueueItem:
    values = dict(zip(QUEUE_COLUMNS, row, strict=True))
    values["input"] = orjson.loads(values["input"])
    return QueueItem(**values)


def pick(
    candidates: list[QueueItem], live: dict[str, int], limit: int, concurrency: dict[str, int]
) -> list[QueueItem]:
    """The first ``limit`` candidates whose workflow is under its concurrency limit."""
    chosen: list[QueueItem] = []
    for item in candidates:
        if len(chosen) == limit:
            break
        cap = concurrency.get(item.workflow)
        if cap is not None:
            if live.get(item.workflow, 0) >= cap:
                continue
            live[item.workflow] = live.get(item.workflow, 0) + 1
        chosen.append(item)
    return chosen


class SQLRunQueue(SQLBase):
    """``RunQueue`` over the dialect hooks."""

    async def enqueue(self, item: QueueItem, *, run_key: str | None = None) -> None:
        if run_key is None:
            if not await self._execute(ENQUEUE, queue_params(item)):
                raise StoreError(f"run {item.run_id} is queued already")
            return
        async with self._transaction() as tx:
            if await tx.fetch(SELECT_QUEUED, (item.run_id,)):
                raise StoreError(f"run {item.run_id} is queued already")
            await tx.execute(ENQUEUE, queue_params(item))
            if run_key is not None:
                await tx.execute(INSERT_RUN_KEY, (item.run_id, run_key, item.submitted_at))

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
        if limit <= 0:
            return []
        dialect = self.dialect
        where, params = CLAIMABLE, list[Any]([now])
        if workflows is not None:
            clause, values = dialect.any_of("q.workflow", workflows)
            where += f" AND {clause}"
            params.extend(values)
        # With limits, read more than `limit`: some candidates may be over theirs.
        fetch = limit * 10 if concurrency else limit
        async with self._transaction() as tx:
            if concurrency and dialect.queue_lock is not None:
                await tx.execute(dialect.queue_lock)
            rows = await tx.fetch(
                f"{SELECT} WHERE {where} {CLAIM_ORDER} LIMIT ?{dialect.skip_locked}",
                (*params, fetch),
            )
            candidates = [queue_item(row) for row in rows]
            live: dict[str, int] = {}
            if concurrency:
                live = {w: int(n) for w, n in await tx.fetch(LIVE_LEASES, (now,))}
            chosen = pick(candidates, live, limit, concurrency or {})
            for item in chosen:
                if item.state == "claimed":  # its lease expired: a retry
                    item.attempts += 1
                item.state, item.worker, item.lease_until = "claimed", worker, now + lease_s
            if chosen:
                await tx.executemany(
                    CLAIM, [(worker, i.lease_until, i.attempts, i.run_id) for i in chosen]
                )
        return chosen

    async def claim_run(self, item: QueueItem, worker: str, *, now: float, lease_s: float) -> bool:
        held = dataclasses.replace(item, state="claimed", worker=worker, lease_until=now + lease_s)
        return bool(await self._fetch(CLAIM_ONE, (*queue_params(held), now)))

    async def renew_leases(
        self, worker: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> list[str]:
        if not run_ids:
            return []
        clause, values = self.dialect.any_of("run_id", run_ids)
        rows = await self._fetch(
            "UPDATE run_queue SET lease_until = ? WHERE worker = ? AND state = 'claimed' "
            f"AND {clause} RETURNING run_id",
            (now + lease_s, worker, *values),
        )
        return [row[0] for row in rows]

    async def release_run(self, run_id: str, worker: str, *, state: QueueState, now: float) -> bool:
        check_release_state(state)
        return bool(await self._fetch(RELEASE, (state, state, state, now, run_id, worker)))

    async def queue_items(
        self,
        *,
        state: QueueState | None = None,
        limit: int = 100,
        run_ids: Sequence[str] | None = None,
    ) -> list[QueueItem]:
        clauses, params = ["TRUE"], list[Any]()
        if state is not None:
            clauses.append("q.state = ?")
            params.append(state)
        if run_ids is not None:
            clause, values = self.dialect.any_of("q.run_id", run_ids)
            clauses.append(clause)
            params.extend(values)
        rows = await self._fetch(
            f"{SELECT} WHERE {' AND '.join(clauses)} {CLAIM_ORDER} LIMIT ?", (*params, limit)
        )
        return [queue_item(row) for row in rows]
