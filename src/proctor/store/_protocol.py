"""The ``Store`` protocol every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from proctor.store._records import (
    ApprovalRecord,
    EventRow,
    GatewayCallRecord,
    RunFilter,
    RunRecord,
)


class Store(Protocol):
    """Durable home of runs, their event logs, approvals, and the gateway's cache.

    ``append`` is the only way events enter the store. It is atomic: the rows, and the
    run or approval rows given with them, are all written or none is. Appending a
    sequence number a run already has raises ``ChainConflictError``, so two writers
    can never fork a chain.
    """

    async def create_run(self, run: RunRecord, first: EventRow) -> None: ...

    async def append(
        self,
        rows: Sequence[EventRow],
        *,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, query: RunFilter) -> list[RunRecord]: ...

    async def run_ids(self) -> list[str]: ...

    async def events(self, run_id: str) -> list[EventRow]: ...

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None: ...

    async def list_approvals(self, status: str | None = "pending") -> list[ApprovalRecord]: ...

    async def cache_get(self, key: str, now: float) -> bytes | None:
        """The cached value of ``key``, or ``None`` if absent or expired at ``now``."""
        ...

    async def cache_put(self, key: str, value: bytes, expires_at: float) -> None:
        """Store ``value`` under ``key`` until ``expires_at`` (epoch seconds), replacing any."""
        ...

    async def cache_purge(self, now: float) -> int:
        """Delete the entries expired at ``now``; returns how many."""
        ...

    async def record_gateway_calls(self, calls: Sequence[GatewayCallRecord]) -> None:
        """Append rows to the endpoint's call ledger, all in one transaction."""
        ...

    async def gateway_spend(self, key_name: str, since: float) -> float:
        """USD spent by API key ``key_name`` from ``since`` (epoch seconds); unknown costs: 0."""
        ...

    async def gateway_calls(
        self, key_name: str | None = None, *, limit: int = 100
    ) -> list[GatewayCallRecord]:
        """The latest ledger rows (of one key, or all), newest first."""
        ...

    async def close(self) -> None: ...
