"""Runs whose driving process died: finding them, and claiming one before resuming it.

Several processes may try to recover the same run at once (two ``proctor resume --all``,
eight ``proctor run --resume-interrupted``). Each claims it first through the run queue
(``Store.claim_run``: one atomic claim, a lease renewed while the run is resumed), so one
resumes it and the others learn that someone else has it, instead of failing on the
chain's guard against a second writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator

from proctor.errors import StoreError
from proctor.runtime._models import is_external_model
from proctor.runtime._worker import DEFAULT_LEASE_S, worker_id
from proctor.store import QueueItem, RunFilter, RunRecord, Store

logger = logging.getLogger("proctor.recovery")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_interrupted(run: RunRecord) -> bool:
    """Whether ``run`` is running with an owner that was a process on this host and no
    longer exists (runs owned by another host: this host cannot tell). An outside agent's
    run is not (only its own session could drive it on), nor an observed one."""
    owner_host, _, pid = run.owner.rpartition(":")
    return (
        run.status == "running"
        and not is_external_model(run.model)
        and owner_host == socket.gethostname()
        and pid.isdigit()
        and int(pid) != os.getpid()
        and not _alive(int(pid))
    )


async def interrupted_runs(store: Store, *, limit: int = 100) -> list[RunRecord]:
    """Running runs whose owner was a process on this host that no longer exists.

    Runs the run queue holds are left to it: queued or waiting ones, and claimed ones
    whose lease is live (a worker, or another process recovering them, drives them). A
    claim whose lease lapsed is nobody's: its run is listed.
    """
    found = [
        run
        for run in await store.list_runs(RunFilter(status="running", limit=limit))
        if is_interrupted(run)
    ]
    if found:
        now = time.time()
        queued = await store.queue_items(run_ids=[run.run_id for run in found], limit=len(found))
        held = {
            item.run_id
            for item in queued
            if item.state in ("queued", "waiting")
            or (item.state == "claimed" and (item.lease_until or 0.0) >= now)
        }
        found = [run for run in found if run.run_id not in held]
    return found


@contextlib.asynccontextmanager
async def recovery_claim(
    store: Store, run: RunRecord, *, lease_s: float = DEFAULT_LEASE_S
) -> AsyncIterator[bool]:
    """Claim interrupted ``run`` for this process while the block resumes it.

    Yields True if the run is this process's to resume: claimed, and still interrupted
    once claimed. False: someone else has it (another process holds the claim, or
    resumed the run already). The lease is renewed while the block runs and the claim
    released ``done`` after it, so the queue's workers never pick the run up unless this
    process dies holding it.
    """
    name = worker_id()
    # The claim is the run's queue item; its input stays in the run's log alone.
    item = QueueItem(
        run_id=run.run_id,
        workflow=run.workflow_ref or run.workflow,
        input={},
        tenant=run.tenant,
        submitted_by=run.started_by,
        submitted_at=run.started_at,
    )
    if not await store.claim_run(item, name, now=time.time(), lease_s=lease_s):
        yield False
        return
    heartbeat = asyncio.create_task(_renew(store, name, run.run_id, lease_s))
    try:
        # Listed as interrupted before the claim: another process may have resumed it
        # (and released its claim) in between.
        current = await store.get_run(run.run_id)
        yield current is not None and is_interrupted(current)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        await store.release_run(run.run_id, name, state="done", now=time.time())


async def _renew(store: Store, name: str, run_id: str, lease_s: float) -> None:
    while True:
        await asyncio.sleep(lease_s / 3)
        try:
            await store.renew_leases(name, [run_id], now=time.time(), lease_s=lease_s)
        except StoreError:  # unreachable for now: the next beat tries again
            logger.exception("could not renew the claim on run %s", run_id)
