"""What the API and the web UI both do: scoped reads, starting runs, deciding approvals.

Every read is scoped to the principal's tenant: a run of another tenant is answered as
not found, exactly like one that does not exist, so ids cannot be probed across tenants.
Runs are driven in the server's event loop as background tasks; a run waiting for
approval simply ends its task, and deciding the approval starts another that resumes it.
With ``enqueue``, runs go to the store's run queue instead and ``proctor worker``
processes drive them (and continue them after approvals): the server holds no run, so
a restart, or a server on another machine, loses nothing. Until a worker starts it, such
a run has no record yet, only its queue item, and reads answer with that (``queued``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from proctor.audit import chained_approvals
from proctor.errors import NotFoundError, ProctorError, UsageError
from proctor.reports import GroupBy, Report, build_report
from proctor.runtime import (
    Runner,
    RunResult,
    UnknownWorkflow,
    WorkflowCatalog,
    decide_and_continue,
    new_run_id,
    project_runner,
    submit,
)
from proctor.server._keys import Principal, check_role, create_api_key, revoke_api_key
from proctor.store import (
    TOTALS_CAP,
    ApiKeyRecord,
    ApprovalRecord,
    EvalResultRecord,
    EventRow,
    EvidenceKeys,
    MemoryStore,
    QueueItem,
    RunFilter,
    RunRecord,
    RunTotals,
    Store,
    load_evidence_keys,
    load_signing_key,
)

logger = logging.getLogger("proctor.server")


class Service:
    """The server's one view of the store and the runtime."""

    def __init__(
        self,
        store: Store,
        *,
        config: str | None = None,
        workflows: WorkflowCatalog | None = None,
        enqueue: bool = False,
    ) -> None:
        if enqueue and isinstance(store, MemoryStore):
            raise UsageError(
                "cannot queue runs on an in-memory store: no worker can reach its queue and "
                "a restart loses it. Fix: serve a SQLite file or a PostgreSQL store "
                "(--db, PROCTOR_DB), or leave out --enqueue"
            )
        self.store = store
        self.enqueue = enqueue
        self.config = config
        self.workflows = workflows if workflows is not None else WorkflowCatalog()
        self._runners: dict[str, Runner] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keys: EvidenceKeys | None = None
        self._keys_loaded = False
        self._secret: bytes | None = None
        self._secret_loaded = False
        # Content hash -> version label: a stored contract version never changes.
        self._versions: dict[str, str] = {}

    # Reads ------------------------------------------------------------------------------

    async def run(self, principal: Principal, run_id: str) -> RunRecord:
        principal.require("read")
        record = await self.store.get_run(run_id)
        if record is None or record.tenant != principal.tenant:
            raise NotFoundError(f"no run {run_id!r} in tenant {principal.tenant!r}")
        return record

    async def run_or_queued(self, principal: Principal, run_id: str) -> RunRecord | QueueItem:
        """The run's record; else, for a run still waiting in the queue (no worker has
        started it), its queue item; else not found, as ``run``."""
        try:
            return await self.run(principal, run_id)
        except NotFoundError:
            item = await self.queued(principal, run_id)
            if item is None:
                raise
            return item

    async def queued(self, principal: Principal, run_id: str) -> QueueItem | None:
        """The tenant's queue item of ``run_id`` while no worker has recorded the run."""
        principal.require("read")
        items = await self.store.queue_items(run_ids=[run_id], limit=1)
        for item in items:
            # The record is read again: a worker may have started the run in between.
            waiting = item.tenant == principal.tenant and item.state != "done"
            if waiting and await self.store.get_run(run_id) is None:
                return item
        return None

    async def queued_runs(
        self,
        principal: Principal,
        *,
        workflow: str | None,
        model: str | None,
        limit: int,
        session: str | None = None,
    ) -> list[QueueItem]:
        """The tenant's runs waiting in the queue (not yet started by a worker), newest
        first: what ``status=queued`` lists."""
        principal.require("read")
        found: list[QueueItem] = []
        for state in ("queued", "claimed"):
            # Claiming order is priority then age; the tenant filter is applied here, so
            # read the whole queue (it holds what waits, not every run ever).
            items = await self.store.queue_items(state=state, limit=10_000)
            found.extend(
                item
                for item in items
                if item.tenant == principal.tenant
                and (workflow is None or item.workflow == workflow)
                and (model is None or item.model == model)
                and (session is None or item.session == session)
            )
        found.sort(key=lambda item: (item.submitted_at, item.run_id), reverse=True)
        shown: list[QueueItem] = []
        for item in found:
            if len(shown) == limit:
                break
            if await self.store.get_run(item.run_id) is None:  # claimed, not yet started
                shown.append(item)
        return shown

    def evidence_keys(self) -> EvidenceKeys | None:
        """The home's keys, to check runs' MACs and signatures (None if they cannot be
        read: then pages check hashes only)."""
        if not self._keys_loaded:
            self._keys_loaded = True
            try:
                self._keys = load_evidence_keys()
            except ProctorError as exc:
                logger.warning("run pages check hashes only: %s", exc)
        return self._keys

    def transcript_key(self) -> bytes | None:
        """The store secret that keys the digest of what the model was sent at each turn
        (None if it cannot be read: turns are then shown unchecked)."""
        if not self._secret_loaded:
            self._secret_loaded = True
            try:
                self._secret = load_signing_key()
            except ProctorError as exc:
                logger.warning("model turns are shown without checking their digests: %s", exc)
        return self._secret

    async def events(
        self, principal: Principal, run_id: str, *, after: int = -1, limit: int | None = None
    ) -> list[EventRow]:
        await self.run_or_queued(principal, run_id)  # a queued run has no events yet
        return await self.store.events(run_id, after=after, limit=limit)

    async def approval(self, principal: Principal, approval_id: str) -> ApprovalRecord:
        principal.require("read")
        approval = await self.store.get_approval(approval_id)
        if approval is not None:
            run = await self.store.get_run(approval.run_id)
            if run is not None and run.tenant == principal.tenant:
                [shown] = await chained_approvals(self.store, [approval])
                return shown
        raise NotFoundError(f"no approval {approval_id!r} in tenant {principal.tenant!r}")

    async def runs(self, principal: Principal, query: RunFilter) -> list[RunRecord]:
        """The tenant's runs ``query`` matches (its tenant is the principal's), newest first."""
        principal.require("read")
        return await self.store.list_runs(replace(query, tenant=principal.tenant))

    async def run_totals(self, principal: Principal, query: RunFilter) -> RunTotals:
        """What the tenant's runs ``query`` matches add up to (its limit and cursor aside):
        the newest ``TOTALS_CAP`` of them at most."""
        principal.require("read")
        return await self.store.run_totals(replace(query, tenant=principal.tenant), cap=TOTALS_CAP)

    async def approvals(
        self,
        principal: Principal,
        status: str | None,
        *,
        after: tuple[float, str] | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRecord]:
        """The tenant's approvals (with ``status``; ``None``: all), oldest request first: at
        most ``limit``, after the cursor ``after`` (``approval_key`` of the last one seen)."""
        principal.require("read")
        found = await self.store.list_approvals(
            status, tenant=principal.tenant, after=after, limit=limit
        )
        return await chained_approvals(self.store, found)

    async def pending_approvals(
        self, principal: Principal, runs: list[RunRecord]
    ) -> dict[str, str]:
        """Run id -> the approval it waits for, for those of ``runs`` awaiting one (read
        by run: a page costs the same however many approvals the tenant has pending)."""
        waiting = [run.run_id for run in runs if run.status == "awaiting_approval"]
        if not waiting:
            return {}  # the common case costs no query
        principal.require("read")
        found = await self.store.list_approvals("pending", tenant=principal.tenant, run_ids=waiting)
        pending = await chained_approvals(self.store, found)
        return {approval.run_id: approval.approval_id for approval in pending}

    async def contract_version(self, content_hash: str) -> str | None:
        """The version label of a stored contract version (remembered: it never changes)."""
        label = self._versions.get(content_hash)
        if label is None and content_hash:
            found = await self.store.contracts(hash_prefix=content_hash)
            if found:
                label = self._versions[content_hash] = found[0].version
        return label

    async def report(
        self,
        principal: Principal,
        *,
        since: float,
        until: float,
        group_by: GroupBy,
        workflow: str | None,
    ) -> Report:
        """The report over the tenant's runs started in ``[since, until)``."""
        principal.require("read")
        return await build_report(
            self.store,
            tenant=principal.tenant,
            since=since,
            until=until,
            group_by=group_by,
            workflow=workflow,
        )

    async def eval_results(
        self, principal: Principal, *, suite: str | None, limit: int
    ) -> list[EvalResultRecord]:
        """The tenant's stored eval results (of ``suite``), newest first, without bodies."""
        principal.require("read")
        return await self.store.eval_results(suite, limit=limit, tenant=principal.tenant)

    async def eval_result(self, principal: Principal, result_id: str) -> EvalResultRecord:
        """One of the tenant's eval results, with its body."""
        principal.require("read")
        record = await self.store.get_eval_result(result_id)
        if record is None or record.tenant != principal.tenant:
            raise NotFoundError(f"no eval result {result_id!r} in tenant {principal.tenant!r}")
        return record

    # API keys ---------------------------------------------------------------------------

    async def keys(self, principal: Principal) -> list[ApiKeyRecord]:
        """The tenant's API keys, newest first (records hold digests; callers show none)."""
        principal.require("keys")
        return await self.store.api_keys(principal.tenant)

    async def create_key(
        self,
        principal: Principal,
        *,
        role: str,
        name: str | None = None,
        holder: str | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """Mint a key in the principal's own tenant: its record and the key, shown once.
        Its holder defaults to the admin minting it: a key one mints for oneself is oneself."""
        principal.require("keys")
        return await create_api_key(
            self.store,
            role=check_role(role),
            tenant=principal.tenant,
            name=name,
            holder=holder or principal.holder,
            created_by=principal.holder,
        )

    async def revoke_key(self, principal: Principal, key_id: str) -> ApiKeyRecord:
        """Revoke one of the tenant's keys (a key revoked already keeps its first time)."""
        principal.require("keys")
        return await revoke_api_key(self.store, key_id, tenant=principal.tenant)

    # Runs -------------------------------------------------------------------------------

    def runner(self, name: str) -> Runner:
        """The runner of workflow ``name``, one of the server's catalog, built once. A
        request or a stored run only names it: nothing is imported from what it spells."""
        runner = self._runners.get(name)
        if runner is None:
            try:
                flow = self.workflows.load(name)
            except (ProctorError, UsageError):
                raise
            except Exception as exc:  # a registered factory that fails: the operator's to fix
                raise NotFoundError(
                    f"cannot load workflow {name!r}: {type(exc).__name__}: {exc}"
                ) from None
            runner = project_runner(self.store, flow, self.config)
            self._runners[name] = runner
        return runner

    async def start_run(
        self,
        principal: Principal,
        workflow: str,
        input: dict[str, Any],
        *,
        model: str | None = None,
        session: str | None = None,
    ) -> RunRecord | QueueItem:
        """Start a run in the background; returns its record once it is stored. With
        ``enqueue``: queue it for the workers; returns its queue item."""
        principal.require("start")
        if not isinstance(input, dict):
            raise UsageError("a run's input must be a JSON object")
        try:
            runner = self.runner(workflow)
        except UnknownWorkflow as exc:
            raise UsageError(str(exc)) from None
        if self.enqueue:
            return await self._enqueue(
                principal, runner, workflow, input, model=model, session=session
            )
        run_id = new_run_id()
        task = self._spawn(
            runner.start(
                input,
                model=model,
                started_by=principal.holder,
                tenant=principal.tenant,
                run_id=run_id,
                session=session,
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

    async def _enqueue(
        self,
        principal: Principal,
        runner: Runner,
        workflow: str,
        input: dict[str, Any],
        *,
        model: str | None,
        session: str | None,
    ) -> QueueItem:
        # Refused now what the worker would refuse later, where nobody would see it.
        runner.check_model(model)
        run_id = await submit(
            self.store,
            workflow,
            input,
            model=model,
            tenant=principal.tenant,
            submitted_by=principal.holder,
            load=lambda _: runner.workflow,  # loaded already (self.runner)
            keys=runner.deps.keys,
            session=session,
        )
        [item] = await self.store.queue_items(run_ids=[run_id], limit=1)
        return item

    async def decide(
        self,
        principal: Principal,
        approval_id: str,
        *,
        approved: bool,
        reason: str = "",
    ) -> ApprovalRecord:
        """Record an approval's decision and resume its run in the background. Whoever
        started the run may not decide (``decide_approval`` compares identities)."""
        principal.require("decide")
        approval = await self.approval(principal, approval_id)
        run = await self.run(principal, approval.run_id)

        async def in_background(resumed: Coroutine[Any, Any, RunResult]) -> None:
            self._spawn(resumed)

        outcome = await decide_and_continue(
            self.store,
            approval_id,
            approved=approved,
            by=principal.holder,
            reason=reason,
            runner=self._runner_of(run),
            drive=in_background,
        )
        return outcome.approval

    def _runner_of(self, run: RunRecord) -> Runner | None:
        """The runner of ``run``'s workflow, if it can be loaded here."""
        try:
            return self.runner(run.workflow_ref or run.workflow)
        except ProctorError as exc:
            logger.warning("run %s cannot continue in this server: %s", run.run_id, exc)
            return None

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if isinstance(exc, ProctorError | UsageError):
            # Its message says it all (and a run that never started was answered with it).
            logger.error("a background run failed: %s", exc)
        else:
            logger.error("a background run failed: %s", exc, exc_info=exc)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for background runs (at shutdown); runs cut short resume later from their log."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
