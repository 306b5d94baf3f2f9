"""The store's checkpoint log in SQL written once (see ``proctor.audit`` for what a
checkpoint proves): the signed checkpoints, and each run's head as the latest signed it."""

from __future__ import annotations

from collections.abc import Sequence

from proctor.store._records import CheckpointRecord
from proctor.store._sql_base import SQLBase, insert

CHECKPOINT_COLUMNS = ("seq", "created_at", "runs", "root", "prev_hash", "hash", "signature")
INSERT_CHECKPOINT = insert("checkpoints", CHECKPOINT_COLUMNS)
SELECT_CHECKPOINTS = f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints ORDER BY seq"
UPSERT_HEAD = (
    "INSERT INTO checkpoint_heads (run_id, seq, hash, checkpoint) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
    "checkpoint = excluded.checkpoint"
)
SELECT_HEADS = "SELECT run_id, seq, hash FROM checkpoint_heads ORDER BY run_id"
SELECT_HEAD = "SELECT seq, hash FROM checkpoint_heads WHERE run_id = ?"
# The log's own last event, not the run record's head: a commit may leave the record
# behind (a checker's verdict while the run waits), and a checkpoint signs the log.
RUN_HEADS = (
    "SELECT e.run_id, e.seq, e.hash FROM events e JOIN "
    "(SELECT run_id, MAX(seq) AS last FROM events GROUP BY run_id) m "
    "ON e.run_id = m.run_id AND e.seq = m.last ORDER BY e.run_id"
)


class SQLCheckpoints(SQLBase):
    """``Checkpoints`` over the dialect hooks."""

    async def add_checkpoint(
        self, record: CheckpointRecord, changed: Sequence[tuple[str, int, str]]
    ) -> None:
        values = tuple(getattr(record, column) for column in CHECKPOINT_COLUMNS)
        heads = [(run_id, seq, hash_, record.seq) for run_id, seq, hash_ in changed]
        batch: list[tuple[str, Sequence[tuple[object, ...]]]] = [(INSERT_CHECKPOINT, [values])]
        if heads:
            batch.append((UPSERT_HEAD, heads))
        await self._write(batch)

    async def checkpoints(self) -> list[CheckpointRecord]:
        rows = await self._fetch(SELECT_CHECKPOINTS)
        return [CheckpointRecord(**dict(zip(CHECKPOINT_COLUMNS, row, strict=True))) for row in rows]

    async def checkpoint_heads(self) -> list[tuple[str, int, str]]:
        return [(row[0], int(row[1]), row[2]) for row in await self._fetch(SELECT_HEADS)]

    async def checkpoint_head(self, run_id: str) -> tuple[int, str] | None:
        row = await self._fetchone(SELECT_HEAD, (run_id,))
        return None if row is None else (int(row[0]), row[1])

    async def run_heads(self) -> list[tuple[str, int, str]]:
        return [(row[0], int(row[1]), row[2]) for row in await self._fetch(RUN_HEADS)]
