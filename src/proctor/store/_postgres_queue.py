"""The PostgreSQL store's run queue (``run_queue``, migration 8): claims with row locks.

A claim reads the claimable rows ``FOR UPDATE SKIP LOCKED`` and updates them in one
transaction, so workers on any number of hosts claim side by side and never the same
item. Per-workflow concurrency limits count live leases, which rows another claimer has
locked but not yet committed would escape: claims with limits take a transaction-level
advisory lock first, so they count one after another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from proctor.errors import StoreError
from proctor.store._postgres_pool import PostgresConnection
from proctor.store._records import QueueItem, QueueState
from proctor.store._sqlite_queue import (
    CLAIM_ONE,
    CLAIM_ORDER,
    CLAIMABLE,
    LIVE_LEASES,
    QUEUE_COLUMNS,
    check_release_state,
    pick,
    queue_item,
    queue_params,
)

_SELECT = f"SELECT {', '.join(f'q.{c}' for c in QUEUE_COLUMNS)} FROM run_queue q"
_INSERT = (
    f"INSERT INTO run_queue ({', '.join(QUEUE_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in QUEUE_COLUMNS)})"
)
_LOCK_CLASS = 0x50524F43  # "PROC", as the migration lock; the key names the queue
_QUEUE_LOCK_KEY = 0x51554555  # "QUEU"


class PostgresRunQueue(PostgresConnection):
    """``Store``'s run queue methods, for ``PostgresStore``."""

    async def enqueue(self, item: QueueItem) -> None:
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"{_INSERT} ON CONFLICT (run_id) DO NOTHING", queue_params(item)
            )
            if cursor.rowcount == 0:
                raise StoreError(f"run {item.run_id} is queued already")

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
        where = CLAIMABLE.replace("?", "%s")
        params: list[object] = [now]
        if workflows is not None:
            where += " AND q.workflow = ANY(%s)"
            params.append(list(workflows))
        fetch = limit * 10 if concurrency else limit
        async with self._connection() as conn, conn.transaction():
            if concurrency:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _QUEUE_LOCK_KEY)
                )
            cursor = await conn.execute(
                f"{_SELECT} WHERE {where} {CLAIM_ORDER} LIMIT %s FOR UPDATE OF q SKIP LOCKED",
                (*params, fetch),
            )
            candidates = [queue_item(row) for row in await cursor.fetchall()]
            live: dict[str, int] = {}
            if concurrency:
                counted = await conn.execute(LIVE_LEASES.replace("?", "%s"), (now,))
                live = {w: int(n) for w, n in await counted.fetchall()}
            chosen = pick(candidates, live, limit, concurrency or {})
            for item in chosen:
                if item.state == "claimed":  # its lease expired: a retry
                    item.attempts += 1
                item.state, item.worker, item.lease_until = "claimed", worker, now + lease_s
            if chosen:
                async with conn.cursor() as many:
                    await many.executemany(
                        "UPDATE run_queue SET state = 'claimed', worker = %s, lease_until = %s, "
                        "attempts = %s WHERE run_id = %s",
                        [(worker, item.lease_until, item.attempts, item.run_id) for item in chosen],
                    )
        return chosen

    async def claim_run(self, item: QueueItem, worker: str, *, now: float, lease_s: float) -> bool:
        held = dataclasses.replace(item, state="claimed", worker=worker, lease_until=now + lease_s)
        # A concurrent claim of the same run waits for this row lock, then finds it held.
        rows = await self._fetch(CLAIM_ONE.replace("?", "%s"), (*queue_params(held), now))
        return bool(rows)

    async def renew_leases(
        self, worker: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> list[str]:
        if not run_ids:
            return []
        rows = await self._fetch(
            "UPDATE run_queue SET lease_until = %s WHERE worker = %s AND state = 'claimed' "
            "AND run_id = ANY(%s) RETURNING run_id",
            (now + lease_s, worker, list(run_ids)),
        )
        return [row[0] for row in rows]

    async def release_run(self, run_id: str, worker: str, *, state: QueueState, now: float) -> bool:
        check_release_state(state)
        rows = await self._fetch(
            "UPDATE run_queue SET state = %s, lease_until = NULL, "
            "worker = CASE WHEN %s::text = 'queued' THEN NULL ELSE worker END, "
            "finished_at = CASE WHEN %s::text = 'done' THEN %s ELSE finished_at END "
            "WHERE run_id = %s AND worker = %s AND state = 'claimed' RETURNING run_id",
            (state, state, state, now, run_id, worker),
        )
        return bool(rows)

    async def queue_items(
        self,
        *,
        state: QueueState | None = None,
        limit: int = 100,
        run_ids: Sequence[str] | None = None,
    ) -> list[QueueItem]:
        clauses, params = ["TRUE"], list[object]()
        if state is not None:
            clauses.append("q.state = %s")
            params.append(state)
        if run_ids is not None:
            clauses.append("q.run_id = ANY(%s)")
            params.append(list(run_ids))
        rows = await self._fetch(
            f"{_SELECT} WHERE {' AND '.join(clauses)} {CLAIM_ORDER} LIMIT %s", (*params, limit)
        )
        return [queue_item(row) for row in rows]
