"""The runtime acts only on runs whose record verifies.

Resuming a run, or recording a decision on its approval, reads the run's log and acts on
it (pays, sends, hands off). A log or run record someone edited in the database must not
drive anything: the chain is checked first (``verify_rows``, the same check as ``proctor
audit verify``), and a run that fails it is refused with the first bad event named.
"""

from __future__ import annotations

from collections.abc import Sequence

from proctor.errors import RunStateError
from proctor.store import (
    ApprovalRecord,
    Event,
    EventRow,
    EvidenceKeys,
    RunKey,
    RunRecord,
    SealError,
    Store,
    approval_disagreement,
    new_run_key,
    open_events,
    open_run_key,
    verify_rows,
)


class UnverifiedRunError(RunStateError):
    """The run's log, or its record, does not verify: nothing acts on it."""

    def __init__(self, message: str, *, run_id: str, bad_seq: int | None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.bad_seq = bad_seq


def ensure_verified(
    run_id: str,
    rows: list[EventRow],
    run: RunRecord | None,
    doing: str,
    *,
    keys: EvidenceKeys | None,
) -> None:
    """Raise ``UnverifiedRunError`` unless ``rows`` (and ``run``) verify, MACs and
    signatures included under ``keys``; ``doing`` says what was refused (``resume``,
    ``decide an approval of``)."""
    report = verify_rows(run_id, rows, run, keys)
    if report.ok:
        return
    where = "" if report.bad_seq is None else f" (event {report.bad_seq})"
    raise UnverifiedRunError(
        f"run {run_id} does not verify{where}: {report.problem}. Proctor will not {doing} a "
        f"run whose record was altered. Inspect it with `proctor audit verify {run_id}` "
        "and restore the store from a backup",
        run_id=run_id,
        bad_seq=report.bad_seq,
    )


async def ensure_checkpointed(store: Store, run_id: str, rows: list[EventRow], doing: str) -> None:
    """Raise ``UnverifiedRunError`` if ``rows`` no longer hold the head the store's latest
    checkpoint signed for the run: a log cut back to an earlier commit (whose MAC is
    valid) and its record rolled back with it."""
    signed = await store.checkpoint_head(run_id)
    if signed is None:
        return
    seq, hash_ = signed
    if seq < len(rows) and rows[seq].hash == hash_:
        return
    raise UnverifiedRunError(
        f"run {run_id} does not verify (event {min(seq, len(rows))}): it no longer holds "
        f"event {seq} as the store's latest checkpoint signed it, so its log was cut back "
        f"or replaced. Proctor will not {doing} it. Inspect it with `proctor audit verify "
        f"{run_id}` and restore the store from a backup",
        run_id=run_id,
        bad_seq=min(seq, len(rows)),
    )


def ensure_approval_matches(approval: ApprovalRecord, rows: list[EventRow]) -> None:
    """Raise ``UnverifiedRunError`` unless the approvals row (what the approver is shown)
    says what the run's verified log asked (``approval_disagreement``)."""
    found = approval_disagreement(approval, rows)
    if found is None:
        return
    seq, differs = found
    where = "" if seq is None else f" (event {seq})"
    raise UnverifiedRunError(
        f"approval {approval.approval_id} does not match its run's log{where}: {differs}. "
        "The approvals table was edited, so what an approver was shown is not what the run "
        f"asked; nothing is recorded. Inspect run {approval.run_id} with `proctor audit "
        "verify` and restore the store from a backup",
        run_id=approval.run_id,
        bad_seq=seq,
    )


async def run_key_of(
    store: Store, keys: EvidenceKeys | None, run_id: str, *, create_at: float | None = None
) -> RunKey | None:
    """The run's data key, opened (``store._sealing``); with ``create_at``, a run that has
    none gets one, made at that time. ``None`` where the keys cannot seal (a verifier's)."""
    if keys is None or not keys.can_seal:
        return None
    wrapped = await store.run_key(run_id)
    if wrapped is None:
        if create_at is None:
            return None
        fresh = new_run_key(keys, run_id)
        wrapped = await store.save_run_key(run_id, fresh.wrapped, at=create_at)
        if wrapped == fresh.wrapped:
            return fresh
    try:
        return open_run_key(keys, run_id, wrapped)
    except SealError as exc:
        raise _unsealed(run_id, str(exc), None, "open") from None


def opened_events(
    run_id: str, rows: Sequence[EventRow], key: RunKey | None, doing: str
) -> list[Event]:
    """The run's events with their sealed raw values (what the run acts on), or
    ``UnverifiedRunError`` naming the event whose sealed values do not open."""
    try:
        return open_events(rows, key)
    except SealError as exc:
        raise _unsealed(run_id, str(exc), exc.seq, doing) from None


def _unsealed(run_id: str, problem: str, seq: int | None, doing: str) -> UnverifiedRunError:
    where = "" if seq is None else f" (event {seq})"
    return UnverifiedRunError(
        f"run {run_id}'s sealed values cannot be read{where}: {problem}. Proctor will not "
        f"{doing} a run on its redacted record alone. Check the store secret "
        "(signing.key, or $PROCTOR_SIGNING_KEY) is the one that wrote the run, or restore "
        "the store from a backup",
        run_id=run_id,
        bad_seq=seq,
    )
