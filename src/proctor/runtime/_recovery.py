"""Finding runs whose driving process died, so the next command can resume them."""

from __future__ import annotations

import os
import socket

from proctor.store import RunFilter, RunRecord, Store


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def interrupted_runs(store: Store, *, limit: int = 100) -> list[RunRecord]:
    """Running runs whose owner was a process on this host that no longer exists.

    Runs owned by another host are left alone: without a lease this host cannot tell
    whether that process is still alive. So are runs in the run queue (not yet done):
    their workers' leases decide who continues them (``proctor worker``).
    """
    host = socket.gethostname()
    found = []
    for run in await store.list_runs(RunFilter(status="running", limit=limit)):
        owner_host, _, pid = run.owner.rpartition(":")
        if (
            owner_host == host
            and pid.isdigit()
            and int(pid) != os.getpid()
            and not _alive(int(pid))
        ):
            found.append(run)
    if found:
        queued = await store.queue_items(run_ids=[run.run_id for run in found], limit=len(found))
        held = {item.run_id for item in queued if item.state != "done"}
        found = [run for run in found if run.run_id not in held]
    return found
