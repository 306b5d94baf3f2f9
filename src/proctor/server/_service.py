"""What the API and the web UI both do: scoped reads, starting runs, deciding approvals.

Every read is scoped to the principal's tenant: a run of another tenant is answered as
not found, exactly like one that does not exist, so ids cannot be probed across tenants.
Runs are driven in the server's event loop as background tasks; a run waiting for
approval simply ends its task, and deciding the approval starts another that resumes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from proctor.errors import AccessDenied, NotFoundError, ProctorError, UsageError
from proctor.runtime import (
    ApprovalExpiredError,
    Runner,
    decide_approval,
    load_workflow_ref,
    new_run_id,
    project_runner,
)
from proctor.server._keys import Principal
from proctor.store import ApprovalRecord, EventRow, RunRecord, Store

logger = logging.getLogger("proctor.server")


class Service:
    """The server's one view of the store and the runtime."""

    def __init__(self, store: Store, *, config: str | None = None) -> None:
        self.store = store
        self.config = config
        self._runners: dict[str, Runner] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # Reads ------------------------------------------------------------------------------

    async def run(self, principal: Principal, run_id: str) -> RunRecord:
        principal.require("read")
        record = await self.store.get_run(run_id)
        if record is None or record.tenant != principal.tenant:
            raise NotFoundError(f"no run {run_id!r} in tenant {principal.tenant!r}")
        return record

    async def events(
        self, principal: Principal, run_id: str, *, after: int = -1, limit: int | None = None
    ) -> list[EventRow]:
        await self.run(principal, run_id)
        return await self.store.events(run_id, after=after, limit=limit)

    async def approval(self, principal: Principal, approval_id: str) -> ApprovalRecord:
        principal.require("read")
        approval = await self.store.get_approval(approval_id)
        if approval is not None:
            run = await self.store.get_run(approval.run_id)
            if run is not None and run.tenant == principal.tenant:
                return approval
        raise NotFoundError(f"no approval {approval_id!r} in tenant {principal.tenant!r}")

    # Runs -------------------------------------------------------------------------------

    def runner(self, ref: str) -> Runner:
        """The runner of workflow ``ref`` (a registered name or module:attribute), built once."""
        runner = self._runners.get(ref)
        if runner is None:
            runner = project_runner(self.store, load_workflow_ref(ref), self.config)
            self._runners[ref] = runner
        return runner

    async def start_run(
        self,
        principal: Principal,
        workflow: str,
        input: dict[str, Any],
        *,
        model: str | None = None,
    ) -> RunRecord:
        """Start a run in the background; returns its record once it is stored."""
        principal.require("start")
        if not isinstance(input, dict):
            raise UsageError("a run's input must be a JSON object")
        runner = self.runner(workflow)
        run_id = new_run_id()
        task = self._spawn(
            runner.start(
                input,
                model=model,
                started_by=principal.name,
                tenant=principal.tenant,
                run_id=run_id,
            )
        )
        # Answer with the stored run: wait for its first write, or for the error that
        # prevented it (an unknown model, a contract the runner refuses).
        while (record := await self.store.get_run(run_id)) is None:
            if task.done():
                task.result()  # raises what stopped the run from starting
                raise ProctorError(f"run {run_id} ended before it was recorded")
            await asyncio.sleep(0.002)
        return record

    async def decide(
        self,
        principal: Principal,
        approval_id: str,
        *,
        approved: bool,
        reason: str = "",
    ) -> ApprovalRecord:
        """Record an approval's decision and resume its run in the background."""
        principal.require("decide")
        approval = await self.approval(principal, approval_id)
        run = await self.run(principal, approval.run_id)
        if run.started_by and run.started_by == principal.name:
            raise AccessDenied(
                f"{principal.name} started run {run.run_id}, so may not decide its approvals "
                "(separation of duties). Ask another approver",
                status=403,
            )
        runner = self._runner_of(run)
        try:
            decided = await decide_approval(
                self.store,
                approval_id,
                approved=approved,
                by=principal.name,
                reason=reason,
                redactor=None if runner is None else runner.redactor,
            )
        except ApprovalExpiredError:
            if runner is not None:  # too late: the run escalates now
                self._spawn(runner.resume(run.run_id, reason="approval expired"))
            raise
        if runner is not None:
            verdict = "approved" if approved else "denied"
            self._spawn(runner.resume(run.run_id, reason=f"{verdict} by {principal.name}"))
        return decided

    def _runner_of(self, run: RunRecord) -> Runner | None:
        """The runner enforcing the contract ``run`` started under, if it can be loaded."""
        try:
            runner = self.runner(run.workflow_ref or run.workflow)
        except ProctorError as exc:
            logger.warning("run %s cannot continue in this server: %s", run.run_id, exc)
            return None
        return runner.for_contract(run.contract_hash)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("a background run failed: %s", exc, exc_info=exc)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for background runs (at shutdown); runs cut short resume later from their log."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
