"""Retention: purge the payloads of finished runs once their contract's time is up.

Only content goes (inputs, arguments, results, model text): metadata, decisions,
digests and hashes stay, so figures and reports are unchanged and ``audit verify``
still passes. The purge is itself recorded in the run's chain (a signed ``purged``
event, in the purge's transaction): an empty payload without one is an edit, not
retention. Running and waiting runs are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from proctor.store import (
    EvidenceKeys,
    Purged,
    PurgeRecord,
    RunJournal,
    RunRecord,
    Store,
    load_evidence_keys,
)


@dataclass(frozen=True, kw_only=True)
class RetentionItem:
    """One run whose payloads were (or, in a dry run, would be) purged."""

    run: RunRecord
    retention_days: int
    purge: PurgeRecord


@dataclass(frozen=True, kw_only=True)
class RetentionReport:
    """What ``apply_retention`` did, or would do with ``dry_run``."""

    dry_run: bool
    at: float
    items: list[RetentionItem]

    @property
    def runs(self) -> int:
        return len(self.items)

    @property
    def events(self) -> int:
        return sum(item.purge.events for item in self.items)

    @property
    def bytes(self) -> int:
        return sum(item.purge.bytes for item in self.items)


async def apply_retention(
    store: Store,
    *,
    dry_run: bool = False,
    workflow: str | None = None,
    now: float | None = None,
    keys: EvidenceKeys | None = None,
) -> RetentionReport:
    """Purge the payloads of every finished run older than its contract's ``retention_days``.

    Runs whose contract sets no ``retention_days`` (or whose contract version predates
    contract storage) are kept. ``dry_run`` changes nothing and reports the same figures.
    ``keys`` MAC and sign the ``purged`` events (default: ``load_evidence_keys()``).
    """
    at = time.time() if now is None else now
    if not dry_run and keys is None:
        keys = load_evidence_keys()
    days: dict[str, int] = {}
    items: list[RetentionItem] = []
    for run in await store.expired_runs(at, workflow=workflow):
        if run.contract_hash not in days:
            [version] = [
                v
                for v in await store.contracts(hash_prefix=run.contract_hash)
                if v.content_hash == run.contract_hash
            ]
            assert version.retention_days is not None  # expired_runs selects only these
            days[run.contract_hash] = version.retention_days
        kept = days[run.contract_hash]
        reason = (
            f"retention_days {kept} of contract {run.contract_name} "
            f"({run.contract_hash[:12]}) passed since the run finished"
        )
        purge = await store.purge_payloads(run.run_id, at=at, reason=reason, dry_run=True)
        if not dry_run:
            purge = await _purge(store, run, purge, at=at, keys=keys)
        items.append(RetentionItem(run=run, retention_days=kept, purge=purge))
    return RetentionReport(dry_run=dry_run, at=at, items=items)


async def _purge(
    store: Store,
    run: RunRecord,
    preview: PurgeRecord,
    *,
    at: float,
    keys: EvidenceKeys | None,
) -> PurgeRecord:
    """Purge ``run`` and chain the record of it, in one transaction."""
    journal = RunJournal.resume(store, await store.events(run.run_id), clock=lambda: at, keys=keys)
    journal.seal([Purged(events=preview.events, bytes=preview.bytes, reason=preview.reason)])
    record = journal.close()
    run.last_seq, run.head_hash, run.updated_at = journal.last_seq, journal.head_hash, at
    return await store.purge_payloads(
        run.run_id, at=at, reason=preview.reason, record=record, run=run
    )
