"""The endpoint's call ledger: every call in the store, in batches.

A commit costs ~0.1 ms on this project's disks, as much as the rest of the endpoint's
work for a call, so rows are queued and written in batches a few milliseconds apart (one
transaction each). Nothing is lost on shutdown: ``close`` writes what is queued. A row
written releases its call's budget hold in the same transaction (``_budgets``), so until
it is written the hold still counts against the key's budget: queued spend is never
invisible to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from proctor.store import GatewayCallRecord, Store

logger = logging.getLogger("proctor.gateway.ledger")


class CallLedger:
    """Queues call rows and writes them in batches.

    ``flush_after_s`` is how long a batch may gather; 0 writes every row before the call
    returns (one commit per call).
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_after_s: float = 0.005,
    ) -> None:
        self.store = store
        self.flush_after_s = flush_after_s
        self._queue: list[GatewayCallRecord] = []
        self._release: list[tuple[str, float]] = []
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

    async def record(
        self,
        call: GatewayCallRecord,
        *,
        release: tuple[str, float] | None = None,
        now: bool = False,
    ) -> None:
        """Queue ``call`` (or write it ``now``, with what is queued; always without
        batching); writing it takes ``release`` (hold id, USD) back from a budget hold."""
        self._queue.append(call)
        if release is not None:
            self._release.append(release)
        if self._task is None or now:
            await self.flush()
        else:
            self._wake.set()

    async def flush(self) -> bool:
        """Write every queued row now; ``False`` if the store refused (they stay queued)."""
        async with self._lock:
            if not self._queue and not self._release:
                return True
            batch, self._queue = self._queue, []
            release, self._release = self._release, []
            try:
                await self.store.record_gateway_calls(batch, release=release)
            except Exception:
                logger.exception(
                    "the call ledger could not write %d call(s); will retry", len(batch)
                )
                self._queue[:0] = batch
                self._release[:0] = release
                return False
            return True

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_after_s)  # let a batch gather
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(1.0)  # the store is failing: do not spin
                self._wake.set()
