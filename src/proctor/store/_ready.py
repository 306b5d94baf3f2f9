"""Whether a process's store can serve it: reachable, at the schema this Proctor knows.

What ``/readyz`` answers (``proctor serve``, ``proctor gateway serve``, and the health
port of ``proctor worker`` and ``proctor notify run``): a container orchestrator stops
sending work to a process whose database went away, or whose schema a deploy has not
migrated yet (``proctor db upgrade``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from proctor.errors import StoreError
from proctor.store._migrations import SCHEMA_VERSION
from proctor.store._protocol import Health

READY_TIMEOUT_S = 5.0
"""How long a readiness check waits for the database before it says "not ready"."""


@dataclass(frozen=True, kw_only=True)
class StoreReadiness:
    """The answer of ``check_store``: ready, or why not."""

    ready: bool
    schema_version: int | None
    """The version the database holds; ``None`` when it could not be read."""
    reason: str | None = None
    """Why it is not ready, as a person fixes it (never a password: URLs are shown
    without one), for the process's log."""
    summary: str | None = None
    """Why, without where: what a probe's answer says to whoever can reach it."""

    def as_json(self) -> dict[str, object]:
        """The probe's answer: status, the schema versions, and ``reason`` (the summary)."""
        body: dict[str, object] = {
            "status": "ready" if self.ready else "unavailable",
            "schema_version": self.schema_version,
            "supported_version": SCHEMA_VERSION,
        }
        if self.summary is not None:
            body["reason"] = self.summary
        return body


async def check_store(store: Health, *, timeout_s: float = READY_TIMEOUT_S) -> StoreReadiness:
    """Ask the database for its schema version (one round trip): ready if it answers within
    ``timeout_s`` with the version this Proctor knows."""
    try:
        version = await asyncio.wait_for(store.schema_version_now(), timeout=timeout_s)
    except TimeoutError:
        return StoreReadiness(
            ready=False,
            schema_version=None,
            reason=f"the store did not answer within {timeout_s:g} s",
            summary="the store does not answer",
        )
    except StoreError as exc:
        return StoreReadiness(
            ready=False,
            schema_version=None,
            reason=str(exc),
            summary="the store cannot be reached",
        )
    if version != SCHEMA_VERSION:
        fix = (
            "run `proctor db upgrade`"
            if version < SCHEMA_VERSION
            else "roll out the newer Proctor to this process"
        )
        return StoreReadiness(
            ready=False,
            schema_version=version,
            reason=f"the store has schema version {version}, this Proctor needs "
            f"{SCHEMA_VERSION}: {fix}",
            summary=f"schema version {version}, not {SCHEMA_VERSION}: {fix}",
        )
    return StoreReadiness(ready=True, schema_version=version)
