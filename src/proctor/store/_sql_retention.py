"""Retention in SQL written once: finished runs past their contract's time, and purging
their payloads (content, approval arguments, queued input, the data key of sealed raw
values; metadata, digests and hashes stay)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from proctor.errors import RunStateError
from proctor.store._records import EventRow, PurgeRecord, RunRecord
from proctor.store._rows import RUN_COLUMNS, event_params, run_from_row, run_params
from proctor.store._sql_base import Dialect, SQLBase
from proctor.store._sql_runs import INSERT_EVENT, UPSERT_RUN

EXPIRED_RUNS = (
    f"SELECT {', '.join(f'r.{c}' for c in RUN_COLUMNS)} FROM runs r "
    "JOIN contracts c ON c.content_hash = r.contract_hash "
    "WHERE r.status = 'finished' AND r.finished_at IS NOT NULL "
    "AND c.retention_days IS NOT NULL AND r.finished_at + c.retention_days * 86400.0 <= ? "
    "AND NOT EXISTS (SELECT 1 FROM purges p WHERE p.run_id = r.run_id)"
)
# Events without payload fields hold '{}': nothing to purge there.
CLEAR_CONTENT = (
    "UPDATE events SET content = NULL WHERE run_id = ? AND content IS NOT NULL AND content != '{}'"
)
CLEAR_ARGUMENTS = "UPDATE approvals SET arguments = '{}' WHERE run_id = ?"
# Crypto-shredding: the run's data key goes, and with it every sealed raw value; the
# events stay marked sealed (the chain hashes that they were).
SHRED_SEALED = "UPDATE events SET sealed = '-' WHERE run_id = ? AND sealed != ''"
DELETE_RUN_KEY = "DELETE FROM run_keys WHERE run_id = ?"
CLEAR_QUEUED_INPUT = "UPDATE run_queue SET input = '{}' WHERE run_id = ?"
# The summary row's copies of the input and answer (for search) go with the payloads.
CLEAR_RUN_TEXT = "UPDATE runs SET input_text = '', answer_text = '' WHERE run_id = ?"
RECORD_PURGE = (
    "INSERT INTO purges (run_id, purged_at, events, bytes, reason) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
    "purged_at = excluded.purged_at, events = purges.events + excluded.events, "
    "bytes = purges.bytes + excluded.bytes, reason = excluded.reason"
)
SELECT_PURGE = "SELECT run_id, purged_at, events, bytes, reason FROM purges WHERE run_id = ?"


@functools.cache
def payload_size(dialect: Dialect) -> str:
    """Events with content to purge, and its bytes plus the approval arguments' bytes."""
    content = dialect.byte_length.format("content")
    arguments = dialect.byte_length.format("arguments")
    return (
        f"SELECT COUNT(*), COALESCE(SUM({content}), 0) + ("
        f"SELECT COALESCE(SUM({arguments}), 0) FROM approvals "
        "WHERE run_id = ? AND arguments != '{}') "
        "FROM events WHERE run_id = ? AND content IS NOT NULL AND content != '{}'"
    )


class SQLRetention(SQLBase):
    """``Retention`` over the dialect hooks."""

    async def expired_runs(self, now: float, *, workflow: str | None = None) -> list[RunRecord]:
        sql = EXPIRED_RUNS
        params: list[Any] = [now]
        if workflow is not None:
            sql += " AND r.workflow = ?"
            params.append(workflow)
        rows = await self._fetch(f"{sql} ORDER BY r.finished_at, r.run_id", params)
        return [run_from_row(row) for row in rows]

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
        # The run row is locked (where rows lock): an append racing the purge waits for
        # it, then sees it. A dry run only reads, so it need not wait for (or hold) a lock.
        lock = "" if dry_run else self.dialect.lock_rows
        async with self._transaction(write=not dry_run) as tx:
            found = await tx.fetch(f"SELECT status FROM runs WHERE run_id = ?{lock}", (run_id,))
            if not found or found[0][0] != "finished":
                raise RunStateError(
                    f"run {run_id} is {found[0][0] if found else 'not in this store'}: "
                    "only finished runs can have their payloads purged"
                )
            [(events, size)] = await tx.fetch(payload_size(self.dialect), (run_id, run_id))
            purge = PurgeRecord(
                run_id=run_id, purged_at=at, events=int(events), bytes=int(size), reason=reason
            )
            if not dry_run:
                await tx.execute(CLEAR_CONTENT, (run_id,))
                await tx.execute(CLEAR_ARGUMENTS, (run_id,))
                await tx.execute(SHRED_SEALED, (run_id,))
                await tx.execute(DELETE_RUN_KEY, (run_id,))
                await tx.execute(CLEAR_QUEUED_INPUT, (run_id,))
                await tx.execute(RECORD_PURGE, (run_id, at, purge.events, purge.bytes, reason))
                if record:
                    await tx.executemany(INSERT_EVENT, [event_params(row) for row in record])
                if run is not None:
                    await tx.execute(UPSERT_RUN, run_params(run))
                await tx.execute(CLEAR_RUN_TEXT, (run_id,))
        if not dry_run:
            await self._after_purge()
        return purge

    async def _after_purge(self) -> None:
        """What the backend does so that purged bytes leave its files too (a hook)."""

    async def get_purge(self, run_id: str) -> PurgeRecord | None:
        row = await self._fetchone(SELECT_PURGE, (run_id,))
        if row is None:
            return None
        return PurgeRecord(
            run_id=row[0], purged_at=row[1], events=row[2], bytes=row[3], reason=row[4]
        )
