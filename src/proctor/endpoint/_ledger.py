"""The endpoint's call ledger: every call in the store, and each key's spend in memory.

A commit costs ~0.1 ms on this project's disks, as much as the rest of the endpoint's
work for a call, so rows are queued and written in batches a few milliseconds apart (one
transaction each). Nothing is lost on shutdown: ``close`` writes what is queued. A budget
check sees queued spend too: a key's spend is what the store holds for the period plus
what this process has queued and not yet written. The store's figure is re-read every
``refresh_s``, so processes sharing a store see each other's spend within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from proctor.store import GatewayCallRecord, Store

logger = logging.getLogger("proctor.gateway.ledger")


def period_start(period: str, now: float) -> float:
    """Start (epoch seconds) of the UTC ``day`` or ``month`` holding ``now``."""
    moment = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        moment = moment.replace(day=1)
    return moment.timestamp()


@dataclass(kw_only=True, slots=True)
class _Spend:
    since: float
    stored: float  # what the store held for the period when last read, plus what we wrote since
    read_at: float


class CallLedger:
    """Queues call rows, writes them in batches, and answers "how much has this key spent?".

    ``flush_after_s`` is how long a batch may gather; 0 writes every row before the call
    returns (one commit per call).
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_after_s: float = 0.005,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.flush_after_s = flush_after_s
        self.refresh_s = refresh_s
        self._clock = clock
        self._queue: list[GatewayCallRecord] = []
        self._queued_cost: defaultdict[str, float] = defaultdict(float)
        self._spend: dict[str, _Spend] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Rows queued and not yet written."""
        return len(self._queue)

    def start(self) -> None:
        """Start the background writer (on the running event loop)."""
        if self._task is None and self.flush_after_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    async def close(self) -> None:
        """Stop the writer and write everything still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not await self.flush():
            logger.error("the call ledger could not write %d call(s) at shutdown", self.pending)

    async def record(self, call: GatewayCallRecord) -> None:
        """Queue ``call`` (or write it now, without batching)."""
        self._queue.append(call)
        if call.cost_usd:
            self._queued_cost[call.key_name] += call.cost_usd
        if self._task is None:
            await self.flush()
        else:
            self._wake.set()

    async def spent(self, key_name: str, period: str) -> float:
        """USD spent by ``key_name`` in the current ``period`` (``day``/``month``, UTC)."""
        now = self._clock()
        since = period_start(period, now)
        spend = self._spend.get(key_name)
        if spend is None or spend.since != since or now - spend.read_at > self.refresh_s:
            async with self._lock:
                if spend is None or spend.since != since:
                    await self._write()  # the store must hold this period's rows before a read
                # Under the lock no batch is half-written: stored + queued counts each row once.
                stored = await self.store.gateway_spend(key_name, since)
                spend = self._spend[key_name] = _Spend(since=since, stored=stored, read_at=now)
        return spend.stored + self._queued_cost.get(key_name, 0.0)

    async def flush(self) -> bool:
        """Write every queued row now; ``False`` if the store refused (they stay queued)."""
        async with self._lock:
            return await self._write()

    async def _write(self) -> bool:
        if not self._queue:
            return True
        batch, self._queue = self._queue, []
        try:
            await self.store.record_gateway_calls(batch)
        except Exception:
            logger.exception("the call ledger could not write %d call(s); will retry", len(batch))
            self._queue[:0] = batch
            return False
        for call in batch:
            if call.cost_usd:
                self._queued_cost[call.key_name] -= call.cost_usd
                spend = self._spend.get(call.key_name)
                if spend is not None and call.ts >= spend.since:
                    spend.stored += call.cost_usd
        return True

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_after_s)  # let a batch gather
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(1.0)  # the store is failing: do not spin
                self._wake.set()
