"""The OTLP receiver's buffer: spans by trace, until the trace is whole, then observed runs.

An exporter sends spans as they end, a batch at a time, so one trace may arrive over
several requests. Spans are kept by trace id until the trace's root span (the one without
a parent) has arrived, since a root span ends last; a trace whose root never comes (its
process died, or the root is another service's) is taken as it is once no span of it has
arrived for ``idle_s`` seconds. A whole trace is read as one trajectory
(``trajectories_of``), checked against its workflow's contract and recorded as an observed
run of that workflow in the key's tenant (``import_trajectory``). A trace with no GenAI
span is dropped. At most ``max_traces`` traces wait at once: past that, the one waiting
longest is taken as it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from proctor.errors import ProctorError, UsageError
from proctor.evals import ImportedTrace, TraceFormatError, import_trajectory, trajectories_of
from proctor.evals._trace_otlp import Span
from proctor.runtime import Runner

logger = logging.getLogger("proctor.server.otlp")

DEFAULT_IDLE_S = 30.0
DEFAULT_MAX_TRACES = 1000


@dataclass(eq=False)
class _Pending:
    trace_id: str
    workflow: str
    tenant: str
    spans: list[Span] = field(default_factory=list)
    seen: float = 0.0
    timer: asyncio.TimerHandle | None = None


RunnerOf = Callable[[str], Runner]
Spawn = Callable[[Awaitable[object]], object]


class TraceBuffer:
    """Spans waiting for the rest of their trace (see the module's docstring)."""

    def __init__(
        self,
        runner_of: RunnerOf,
        *,
        idle_s: float = DEFAULT_IDLE_S,
        max_traces: int = DEFAULT_MAX_TRACES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner_of = runner_of
        self.idle_s = idle_s
        self.max_traces = max_traces
        self.clock = clock
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._lock = asyncio.Lock()
        self.imported: list[ImportedTrace] = []
        """The most recent imports (the last 100), for tests and logs."""

    async def add(self, spans: list[Span], *, workflow: str, tenant: str) -> list[ImportedTrace]:
        """Take a request's spans; import the traces they complete, and return those."""
        done: list[_Pending] = []
        async with self._lock:
            now = self.clock()
            for span in spans:
                key = (tenant, span.trace_id)
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = _Pending(span.trace_id, workflow, tenant)
                pending.spans.append(span)
                pending.seen = now
            for key, pending in list(self._pending.items()):
                if any(s.parent_id is None for s in pending.spans):
                    done.append(self._pending.pop(key))
                else:
                    self._arm(pending)
            while len(self._pending) > self.max_traces:
                oldest = min(self._pending, key=lambda k: self._pending[k].seen)
                done.append(self._pending.pop(oldest))
        imported = []
        for pending in done:
            if pending.timer is not None:
                pending.timer.cancel()
            found = await self._import(pending)
            imported += found
        return imported

    def _arm(self, pending: _Pending) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(
            self.idle_s, lambda: loop.create_task(self._expire(pending))
        )

    async def _expire(self, pending: _Pending) -> None:
        async with self._lock:
            key = (pending.tenant, pending.trace_id)
            if self._pending.get(key) is not pending:
                return
            if self.clock() - pending.seen < self.idle_s:  # more came: wait again
                self._arm(pending)
                return
            del self._pending[key]
        await self._import(pending)

    async def flush(self) -> list[ImportedTrace]:
        """Import every waiting trace as it is (at shutdown, and in tests)."""
        async with self._lock:
            waiting = list(self._pending.values())
            self._pending.clear()
        imported = []
        for pending in waiting:
            if pending.timer is not None:
                pending.timer.cancel()
            imported += await self._import(pending)
        return imported

    @property
    def waiting(self) -> int:
        """How many traces wait for more spans."""
        return len(self._pending)

    async def _import(self, pending: _Pending) -> list[ImportedTrace]:
        where = f"trace {pending.trace_id}"
        try:
            trajectories = trajectories_of(pending.spans, where=where)
        except TraceFormatError:
            logger.info("%s has no GenAI span: not imported", where)
            return []
        imported = []
        for trajectory in trajectories:
            name = pending.workflow or trajectory.workflow or ""
            try:
                runner = self.runner_of(name)
                item = await import_trajectory(
                    trajectory,
                    runner.workflow,
                    workflow_ref=name,
                    store=runner.store,
                    tenant=pending.tenant,
                    keys=runner.deps.keys,
                )
            except (ProctorError, UsageError) as exc:
                logger.error("%s could not be recorded as an observed run: %s", where, exc)
                continue
            refused = "; ".join(f"{f.tool or 'the answer'} [{f.rule}]" for f in item.check.findings)
            logger.info(
                "%s recorded as observed run %s (%s)%s",
                where,
                item.run_id,
                item.outcome,
                f": the contract would have refused {refused}" if refused else "",
            )
            imported.append(item)
        self.imported = (self.imported + imported)[-100:]
        return imported
