"""Audit: recompute every run's hash chain and name the first event that breaks it."""

from __future__ import annotations

from dataclasses import dataclass

from proctor.store._canonical import GENESIS_HASH, chain_hash, digest
from proctor.store._protocol import Store
from proctor.store._records import EventRow, RunRecord


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    """The result of verifying one run's chain."""

    run_id: str
    events: int
    head_hash: str
    problem: str | None = None
    bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_rows(run_id: str, rows: list[EventRow], run: RunRecord | None) -> ChainReport:
    """Check sequence, links, hashes and content digests of one run's rows."""
    prev = GENESIS_HASH

    def broken(seq: int, problem: str) -> ChainReport:
        return ChainReport(
            run_id=run_id, events=len(rows), head_hash=prev, problem=problem, bad_seq=seq
        )

    for expected, row in enumerate(rows):
        label = f"event {row.seq} ({row.type})"
        if row.seq != expected:
            return broken(
                expected,
                f"event {expected} is missing: the log jumps to {row.seq} "
                "(an event was deleted or renumbered)",
            )
        if row.prev_hash != prev:
            return broken(
                row.seq,
                f"{label} does not link to the event before it: an event was deleted, "
                "inserted or reordered here",
            )
        if chain_hash(row.prev_hash, row.hashed_metadata()) != row.hash:
            return broken(row.seq, f"{label} was edited: its hash does not match its fields")
        if row.content is not None and digest(row.content) != row.content_digest:
            return broken(row.seq, f"{label} was edited: its content does not match its digest")
        prev = row.hash
    if run is not None and run.last_seq >= len(rows):
        return broken(
            len(rows),
            f"the run record says the log reaches event {run.last_seq}, but it ends at "
            f"{len(rows) - 1}: events were deleted from the end",
        )
    if (
        run is not None
        and 0 <= run.last_seq < len(rows)
        and rows[run.last_seq].hash != run.head_hash
    ):
        return broken(
            run.last_seq,
            f"event {run.last_seq} does not match the head hash the run record holds",
        )
    if run is not None and rows:
        disagreement = _record_disagrees(run, rows)
        if disagreement is not None:
            seq, problem = disagreement
            return broken(seq, problem)
    return ChainReport(run_id=run_id, events=len(rows), head_hash=prev)


def _record_disagrees(run: RunRecord, rows: list[EventRow]) -> tuple[int, str] | None:
    """Where the run's summary row says something its (verified) log does not: the row is
    an index, and code reads it (who started the run, under which contract, how it
    ended), so an edit there must not pass for the truth."""
    first, last = rows[0], rows[-1]
    if first.type == "run_started":
        started = first.meta
        fields = {
            "workflow": (run.workflow, started.get("workflow")),
            "contract_hash": (run.contract_hash, started.get("contract_hash")),
        }
        if run.started_by:  # runs recorded before started_by was kept have none
            fields["started_by"] = (run.started_by, started.get("started_by"))
        for name, (recorded, logged) in fields.items():
            if recorded != logged:
                return 0, (
                    f"the run record says {name} {recorded!r}, but its log says {logged!r}: "
                    "the runs table was edited"
                )
    ended = next((row for row in reversed(rows) if row.type == "run_finished"), None)
    if ended is not None and (run.status != "finished" or run.outcome != ended.meta.get("outcome")):
        return ended.seq, (
            f"the log ends {ended.meta.get('outcome')!r}, but the run record says status "
            f"{run.status!r}, outcome {run.outcome!r}: the runs table was edited"
        )
    if run.status == "finished" and ended is None:
        return last.seq, (
            f"the run record says the run finished ({run.outcome}), but its log has no "
            "run_finished: the runs table was edited, or the log's end was deleted"
        )
    return None


async def verify_run(store: Store, run_id: str) -> ChainReport:
    """Verify one run's chain as stored."""
    return verify_rows(run_id, await store.events(run_id), await store.get_run(run_id))
