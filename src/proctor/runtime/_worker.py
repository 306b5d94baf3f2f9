"""The run queue's two ends: ``submit`` adds a run, a ``Worker`` claims and drives runs.

A worker claims up to its free slots, drives each run as a task (``Runner.start`` the
first time, ``Runner.resume`` from the log afterwards) and renews its leases every third
of the lease. A run that finishes is released ``done``; one that waits for a person's
approval is released ``waiting`` and becomes claimable when the decision is recorded.

Failures: a run that raises is logged and its lease left to lapse (no more renewals),
so another claim retries it one lease later, with ``attempts`` one higher; a run whose
worker died is retried the same way. An item claimed with ``max_attempts`` retries
behind it is given up (released ``done``, logged) instead of being driven again.

Stopping (``stop``, or SIGTERM/SIGINT with ``handle_signals``): no more claims; running
runs get ``grace_s`` to finish, then are cancelled and handed back ``queued``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from proctor.errors import StoreError, UsageError
from proctor.policy import Redactor, pseudonym_key
from proctor.runtime._runner import Runner, check_run_input, new_run_id
from proctor.runtime._verified import run_key_of
from proctor.runtime._workflow import Workflow
from proctor.runtime._workflow_refs import WorkflowCatalog, load_workflow_ref, project_runner
from proctor.store import (
    EvidenceKeys,
    QueueItem,
    QueueState,
    Store,
    check_session_key,
    is_sealed_input,
    load_evidence_keys,
    load_signing_key,
    new_run_key,
)

logger = logging.getLogger("proctor.worker")

DEFAULT_LEASE_S = 30.0
DEFAULT_GRACE_S = 30.0
DEFAULT_MAX_ATTEMPTS = 5


def worker_id() -> str:
    """This worker's name in the queue: ``host:pid:random`` (unique across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def submit(
    store: Store,
    workflow: str,
    input: dict[str, Any],
    *,
    priority: int = 0,
    model: str | None = None,
    tenant: str = "default",
    submitted_by: str = "",
    load: Callable[[str], Workflow] = load_workflow_ref,
    keys: EvidenceKeys | None = None,
    session: str | None = None,
) -> str:
    """Queue a run of ``workflow`` (a name or ``module:attribute``); returns its run id.

    The workflow is loaded once here, so a wrong name fails now rather than in a worker;
    an input the run could not record is refused now too (``UsageError``). The input is
    queued sealed under the run's own data key (``keys``, default: the home's), which
    retention destroys with the run's payloads. ``session`` is the key the run starts
    with (``Runner.start``), checked now.
    """
    check_run_input(input)
    if session is not None:
        check_session_key(session)
    load(workflow)
    run_id = new_run_id()
    keys = keys if keys is not None else load_evidence_keys()
    run_key = new_run_key(keys, run_id) if keys.can_seal else None
    if run_key is not None:
        # The queue row shows the submitter as a run's record would (a pseudonym if the
        # name holds personal data); the worker starts the run as the sealed real one.
        shown_by = _submitters(load_signing_key()).name(submitted_by)
        input, submitted_by = run_key.seal_input(input, submitted_by), shown_by
    item = QueueItem(
        run_id=run_id,
        workflow=workflow,
        input=input,
        tenant=tenant,
        model=model,
        submitted_by=submitted_by,
        priority=priority,
        submitted_at=time.time(),
        session=session,
    )
    await store.enqueue(item, run_key=None if run_key is None else run_key.wrapped)
    return run_id


@functools.cache
def _submitters(secret: bytes) -> Redactor:
    """The built-in detectors with the store's name pseudonyms (compiled once)."""
    return Redactor(names_key=pseudonym_key(secret))


async def open_queued(store: Store, keys: EvidenceKeys | None, item: QueueItem) -> QueueItem:
    """``item`` as it was submitted: its input and submitter opened, if queued sealed."""
    if not is_sealed_input(item.input):
        return item
    key = await run_key_of(store, keys, item.run_id)
    if key is None:
        raise StoreError(
            f"run {item.run_id}'s queued input is sealed, but its data key is not in the "
            "store (retention destroyed it) or this process lacks the store secret, so the "
            "run cannot start. Fix: run the worker with the submitter's PROCTOR_SIGNING_KEY"
        )
    input, submitted_by = key.open_input(item.input)
    return dataclasses.replace(item, input=input, submitted_by=submitted_by)


async def in_queue(store: Store, run_id: str) -> bool:
    """Whether workers drive ``run_id`` (it has a queue item not yet done): then whoever
    decides its approval leaves the run to them rather than racing them for it."""
    items = await store.queue_items(run_ids=[run_id], limit=1)
    return any(item.state != "done" for item in items)


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """How a worker claims and drives runs (``proctor worker``'s options)."""

    concurrency: int = 4
    """Runs driven at once by this worker."""
    workflows: tuple[str, ...] | None = None
    """Only runs of these workflows: registered names or ``package.module:attribute`` refs,
    which this worker may then load (default: every registered and configured workflow)."""
    lease_s: float = DEFAULT_LEASE_S
    limits: dict[str, int] = field(default_factory=dict)
    """At most this many live leases per workflow ref, over all workers."""
    drain: bool = False
    """Exit once nothing is queued or claimed (runs waiting for approval don't count)."""
    grace_s: float = DEFAULT_GRACE_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    poll_s: float = 0.5
    """How often an idle worker looks for work."""
    config: str | None = None
    """The project's ``proctor.yaml`` (gateway routes, cache, rate limits)."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, not {self.concurrency}")
        if self.lease_s < 1:
            raise UsageError(f"--lease must be at least 1 second, not {self.lease_s:g}")
        if self.grace_s < 0:
            raise UsageError(f"--grace must not be negative, not {self.grace_s:g}")


class WorkerObserver(Protocol):
    """Told what a worker does, for its metrics (``proctor worker --metrics-port``)."""

    def claimed(self, workflow: str) -> None:
        """A run of ``workflow`` was claimed."""

    def ended(self, workflow: str, outcome: WorkerOutcome, seconds: float) -> None:
        """This worker stopped driving a run after ``seconds``: ``finished``, ``waiting``
        (for approval), ``requeued`` (handed back), ``failed`` (left to be retried) or
        ``given_up`` (too many attempts)."""


WorkerOutcome = Literal["finished", "waiting", "requeued", "failed", "given_up"]


@dataclass
class WorkerStats:
    """What one worker did, for its exit line and the crash harness."""

    claimed: int = 0
    finished: int = 0
    waiting: int = 0
    retried: int = 0
    """Claims of items whose earlier lease had expired (a takeover or retry)."""
    failed: int = 0
    given_up: int = 0
    lost: int = 0
    """Leases another worker took over while this one held them."""
    handed_back: int = 0


class Worker:
    """Claims runs from the store's queue and drives them, up to ``concurrency`` at once."""

    def __init__(
        self,
        store: Store,
        options: WorkerOptions | None = None,
        *,
        name: str | None = None,
        load: Callable[[str], Workflow] | None = None,
        observer: WorkerObserver | None = None,
    ) -> None:
        self.store = store
        self.observer = observer
        self.options = options or WorkerOptions()
        self.name = name or worker_id()
        self.stats = WorkerStats()
        # A queue item only names its workflow: the worker loads it from its own catalog
        # (registered, configured, or given to it), never from what the row spells.
        self._wanted = self.options.workflows
        if load is None:
            catalog = WorkflowCatalog.for_project(self._wanted or (), self.options.config)
            catalog.preload()
            self._wanted = self._wanted or tuple(catalog.names())
            load = catalog.load
        self._load = load
        self._runners: dict[str, Runner] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failed: set[str] = set()  # leases left to lapse, so the run is retried
        self._stopping = asyncio.Event()
        self.last_contact: float | None = None
        """When (``time.monotonic``) a claim or a lease renewal last reached the store."""

    def not_ready(self, now: float | None = None) -> str | None:
        """Why this worker cannot take work now, or ``None``: it is ready while a claim or
        a renewal reached the store within the last lease (at least 10 s). What its
        ``--health-port`` answers at ``/readyz``; safe to call from another thread."""
        if self._stopping.is_set():
            return "the worker is stopping"
        if self.last_contact is None:
            return "the worker has not reached the store yet"
        quiet = (time.monotonic() if now is None else now) - self.last_contact
        window = max(self.options.lease_s, 10.0)
        if quiet > window:
            return f"the worker has not reached the store for {quiet:.0f} s"
        return None

    def stop(self) -> None:
        """Stop claiming; ``run`` returns after the grace period at most."""
        self._stopping.set()

    async def run(self, *, handle_signals: bool = False) -> WorkerStats:
        """Claim and drive runs until stopped (or, with ``drain``, until no work is left)."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for number in signals:
            loop.add_signal_handler(number, self.stop)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._loop()
            await self._shut_down()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            for number in signals:
                loop.remove_signal_handler(number)
        return self.stats

    async def _loop(self) -> None:
        options = self.options
        while not self._stopping.is_set():
            free = options.concurrency - len(self._tasks)
            claimed: list[QueueItem] = []
            try:
                if free > 0:
                    claimed = await self.store.claim_runs(
                        self.name,
                        now=time.time(),
                        lease_s=options.lease_s,
                        limit=free,
                        workflows=self._wanted,
                        concurrency=options.limits or None,
                    )
                    self.last_contact = time.monotonic()
                for item in claimed:
                    self.stats.claimed += 1
                    if self.observer is not None:
                        self.observer.claimed(item.workflow)
                    self.stats.retried += item.attempts > 0
                    self._tasks[item.run_id] = asyncio.create_task(self._drive(item))
                idle = options.drain and not claimed and not self._tasks
                if idle and not await self._pending():
                    return
            except StoreError:
                # The database is down or busy: runs in flight go on, claims resume later.
                logger.exception("worker %s could not claim runs; trying again", self.name)
            waiters: set[asyncio.Future[Any]] = {
                asyncio.ensure_future(self._stopping.wait()),
                *self._tasks.values(),
            }
            _, pending = await asyncio.wait(
                waiters, timeout=options.poll_s, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending - set(self._tasks.values()):
                waiter.cancel()

    async def _pending(self) -> bool:
        """Whether items this worker may run are queued, or claimed by any worker (a dead
        one's lease will expire and be claimed here)."""
        states: tuple[QueueState, ...] = ("queued", "claimed")
        for state in states:
            items = await self.store.queue_items(state=state, limit=1000)
            wanted = self._wanted
            if any(wanted is None or item.workflow in wanted for item in items):
                return True
        return False

    async def _drive(self, item: QueueItem) -> None:
        run_id = item.run_id
        started = time.monotonic()
        outcome: WorkerOutcome | None = None
        try:
            if item.attempts > self.options.max_attempts:
                logger.error(
                    "giving up run %s after %d attempts; resume it by hand: proctor resume %s",
                    run_id,
                    item.attempts,
                    run_id,
                )
                self.stats.given_up += 1
                outcome = "given_up"
                await self._release(run_id, "done")
                return
            state = await self._advance(item)
            if state == "done":
                self.stats.finished += 1
            elif state == "waiting":
                self.stats.waiting += 1
            outcome = _OUTCOMES[state]
            await self._release(run_id, state)
        except asyncio.CancelledError:
            raise
        except Exception:
            # No release: the lease lapses and another claim retries the run (attempts+1).
            logger.exception("run %s failed in worker %s; it is retried", run_id, self.name)
            self.stats.failed += 1
            outcome = "failed"
            self._failed.add(run_id)
        finally:
            self._tasks.pop(run_id, None)
            if self.observer is not None and outcome is not None:
                self.observer.ended(item.workflow, outcome, time.monotonic() - started)

    async def _advance(self, item: QueueItem) -> QueueState:
        """Drive the run as far as it goes; the queue state it should be released as."""
        record = await self.store.get_run(item.run_id)
        if record is not None and record.status == "finished":
            return "done"
        runner = self._runner(item.workflow)
        if record is None:
            submitted = await open_queued(self.store, runner.deps.keys, item)
            result = await runner.start(
                submitted.input,
                model=item.model,
                started_by=submitted.submitted_by or "queue",
                tenant=item.tenant,
                run_id=item.run_id,
                session=item.session,
            )
        else:
            reason = "retried" if item.attempts else "resumed"
            result = await runner.resume(item.run_id, reason=f"{reason} by worker {self.name}")
        if result.status == "finished":
            return "done"
        return "waiting" if result.status == "awaiting_approval" else "queued"

    def _runner(self, ref: str) -> Runner:
        runner = self._runners.get(ref)
        if runner is None:
            flow = self._load(ref)
            runner = self._runners[ref] = project_runner(self.store, flow, self.options.config)
        return runner

    async def _release(self, run_id: str, state: QueueState) -> None:
        if not await self.store.release_run(run_id, self.name, state=state, now=time.time()):
            logger.warning("run %s: lease lost before release (another worker holds it)", run_id)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.options.lease_s / 3)
            held = [run_id for run_id in self._tasks if run_id not in self._failed]
            self._failed &= set(self._tasks)
            if not held:
                continue
            try:
                kept = set(
                    await self.store.renew_leases(
                        self.name, held, now=time.time(), lease_s=self.options.lease_s
                    )
                )
            except Exception:  # the store is unreachable: try again next beat
                logger.exception("worker %s could not renew its leases", self.name)
                continue
            self.last_contact = time.monotonic()
            for run_id in set(held) - kept:
                # Another worker took the run over: stop driving it (the chain refuses
                # a second writer anyway, this stops the wasted work).
                task = self._tasks.pop(run_id, None)
                if task is not None:
                    self.stats.lost += 1
                    task.cancel()

    async def _shut_down(self) -> None:
        tasks = dict(self._tasks)
        if not tasks:
            return
        if self.options.grace_s > 0:
            await asyncio.wait(tasks.values(), timeout=self.options.grace_s)
        unfinished = {run_id: task for run_id, task in tasks.items() if not task.done()}
        for task in unfinished.values():
            task.cancel()
        await asyncio.gather(*unfinished.values(), return_exceptions=True)
        for run_id in unfinished:
            if await self.store.release_run(run_id, self.name, state="queued", now=time.time()):
                self.stats.handed_back += 1


_OUTCOMES: dict[QueueState, WorkerOutcome] = {
    "done": "finished",
    "waiting": "waiting",
    "queued": "requeued",
    "claimed": "requeued",
}


def parse_limits(values: Sequence[str]) -> dict[str, int]:
    """``--limit name=N`` options as a dict; a malformed one is a usage error."""
    limits: dict[str, int] = {}
    for text in values:
        name, sep, number = text.partition("=")
        if not sep or not name.strip() or not number.strip().isdigit() or int(number) < 1:
            raise UsageError(
                f"--limit {text!r}: write WORKFLOW=N with N at least 1, e.g. --limit invoices=2"
            )
        limits[name.strip()] = int(number)
    return limits
