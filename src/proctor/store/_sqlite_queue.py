"""The SQLite store's run queue (``run_queue``, migration 8): claims under the write lock.

``BEGIN IMMEDIATE`` takes SQLite's one write lock before the claimable rows are read, so
worker processes sharing the file claim one after another and never the same item.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from proctor.errors import StoreError
from proctor.store._records import QueueItem, QueueState

QUEUE_COLUMNS = tuple(f.name for f in fields(QueueItem))
_SELECT = f"SELECT {', '.join(f'q.{c}' for c in QUEUE_COLUMNS)} FROM run_queue q"
_INSERT = (
    f"INSERT INTO run_queue ({', '.join(QUEUE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in QUEUE_COLUMNS)})"
)
# What a worker may claim: new items, items whose holder stopped renewing its lease, and
# items that waited for an approval which has since been decided (or the run finished).
CLAIMABLE = (
    "(q.state = 'queued' OR (q.state = 'claimed' AND q.lease_until < ?) "
    "OR (q.state = 'waiting' AND EXISTS (SELECT 1 FROM runs r "
    "WHERE r.run_id = q.run_id AND r.status <> 'awaiting_approval')))"
)
CLAIM_ORDER = "ORDER BY q.priority DESC, q.submitted_at, q.run_id"
# A run claimed by one process outside the queue: added claimed, or taken over from
# nobody (done, or a lapsed lease); a retry counts as an attempt, as in claim_runs.
CLAIM_ONE = (
    f"{_INSERT} ON CONFLICT (run_id) DO UPDATE SET state = 'claimed', "
    "worker = excluded.worker, lease_until = excluded.lease_until, finished_at = NULL, "
    "attempts = run_queue.attempts + CASE WHEN run_queue.state = 'claimed' THEN 1 ELSE 0 END "
    "WHERE run_queue.state = 'done' OR (run_queue.state = 'claimed' AND run_queue.lease_until < ?) "
    "RETURNING run_id"
)
LIVE_LEASES = (
    "SELECT workflow, COUNT(*) FROM run_queue "
    "WHERE state = 'claimed' AND lease_until >= ? GROUP BY workflow"
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


def check_release_state(state: str) -> None:
    if state not in ("queued", "waiting", "done"):
        raise StoreError(f"cannot release a run as {state!r}: use queued, waiting or done")


class SQLiteRunQueue:
    """``Store``'s run queue methods, for ``SQLiteStore`` (which supplies the connection)."""

    path: Path
    _db: sqlite3.Connection

    async def enqueue(self, item: QueueItem) -> None:
        try:
            self._db.execute(_INSERT, queue_params(item))
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"run {item.run_id} is queued already: {exc}") from exc

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
        where, params = CLAIMABLE, list[object]([now])
        if workflows is not None:
            where += f" AND q.workflow IN ({', '.join('?' for _ in workflows)})"
            params.extend(workflows)
        # With limits, read more than `limit`: some candidates may be over theirs.
        fetch = limit * 10 if concurrency else limit
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot claim runs from the store at {self.path}: {exc}. "
                "Check the file is writable and not locked by another program"
            ) from exc
        try:
            rows = db.execute(
                f"{_SELECT} WHERE {where} {CLAIM_ORDER} LIMIT ?", (*params, fetch)
            ).fetchall()
            candidates = [queue_item(row) for row in rows]
            live: dict[str, int] = dict(db.execute(LIVE_LEASES, (now,)).fetchall())
            chosen = pick(candidates, live, limit, concurrency or {})
            for item in chosen:
                if item.state == "claimed":  # its lease expired: a retry
                    item.attempts += 1
                item.state, item.worker, item.lease_until = "claimed", worker, now + lease_s
            db.executemany(
                "UPDATE run_queue SET state = 'claimed', worker = ?, lease_until = ?, "
                "attempts = ? WHERE run_id = ?",
                [(worker, item.lease_until, item.attempts, item.run_id) for item in chosen],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return chosen

    async def claim_run(self, item: QueueItem, worker: str, *, now: float, lease_s: float) -> bool:
        held = dataclasses.replace(item, state="claimed", worker=worker, lease_until=now + lease_s)
        return bool(self._db.execute(CLAIM_ONE, (*queue_params(held), now)).fetchall())

    async def renew_leases(
        self, worker: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> list[str]:
        if not run_ids:
            return []
        marks = ", ".join("?" for _ in run_ids)
        rows = self._db.execute(
            f"UPDATE run_queue SET lease_until = ? WHERE worker = ? AND state = 'claimed' "
            f"AND run_id IN ({marks}) RETURNING run_id",
            (now + lease_s, worker, *run_ids),
        ).fetchall()
        return [row[0] for row in rows]

    async def release_run(self, run_id: str, worker: str, *, state: QueueState, now: float) -> bool:
        check_release_state(state)
        done = self._db.execute(
            "UPDATE run_queue SET state = ?, lease_until = NULL, "
            "worker = CASE WHEN ? = 'queued' THEN NULL ELSE worker END, "
            "finished_at = CASE WHEN ? = 'done' THEN ? ELSE finished_at END "
            "WHERE run_id = ? AND worker = ? AND state = 'claimed'",
            (state, state, state, now, run_id, worker),
        )
        return done.rowcount > 0

    async def queue_items(
        self,
        *,
        state: QueueState | None = None,
        limit: int = 100,
        run_ids: Sequence[str] | None = None,
    ) -> list[QueueItem]:
        clauses, params = ["1 = 1"], list[object]()
        if state is not None:
            clauses.append("q.state = ?")
            params.append(state)
        if run_ids is not None:
            clauses.append(f"q.run_id IN ({', '.join('?' for _ in run_ids) or 'NULL'})")
            params.extend(run_ids)
        rows = self._db.execute(
            f"{_SELECT} WHERE {' AND '.join(clauses)} {CLAIM_ORDER} LIMIT ?", (*params, limit)
        ).fetchall()
        return [queue_item(row) for row in rows]
