"""Audit: recompute every run's hash chain, check its MACs and signatures, and name the
first event that breaks it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from proctor.store._canonical import GENESIS_HASH, canonical_json, chain_hash, digest
from proctor.store._evidence import SIGNED_EVENTS, EvidenceKeys, head_message
from proctor.store._jcs import standard_chain_hash, standard_digest
from proctor.store._protocol import Store
from proctor.store._records import ApprovalRecord, EventRow, RunRecord


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    """The result of verifying one run's chain."""

    run_id: str
    events: int
    head_hash: str
    problem: str | None = None
    bad_seq: int | None = None
    keyed: bool = False
    """Whether the run was written with the store's key (MACs, RFC 8785 hashes)."""
    signed_through: int = -1
    """The last event a valid signature covers (-1: none); later events are covered by
    hashes and MACs only (a run still going, whose next decision will be signed)."""

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_rows(
    run_id: str,
    rows: list[EventRow],
    run: RunRecord | None,
    keys: EvidenceKeys | None = None,
) -> ChainReport:
    """Check sequence, links, hashes and content digests of one run's rows; with ``keys``
    also that every commit is closed by a valid MAC (when the store secret is held) and
    that every decision is covered by a valid signature."""
    prev = GENESIS_HASH
    keyed = bool(rows) and rows[0].keyed
    hash_of, digest_of = (standard_chain_hash, standard_digest) if keyed else (chain_hash, digest)
    check_macs = keys is not None and keys.can_check_macs
    check_signatures = keys is not None and bool(keys.public_keys)
    authenticated = -1  # the last event a valid MAC covers
    signed = -1
    purged_at: list[int] = []

    def broken(seq: int | None, problem: str) -> ChainReport:
        return ChainReport(
            run_id=run_id,
            events=len(rows),
            head_hash=prev,
            problem=problem,
            bad_seq=seq,
            keyed=keyed,
            signed_through=signed,
        )

    if keys is not None and rows and not keyed:
        return broken(
            0,
            "the run carries no MAC of the store's key: it was recorded before keyed chains, "
            "or rewritten by someone without the key",
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
        if hash_of(row.prev_hash, row.hashed_metadata()) != row.hash:
            return broken(row.seq, f"{label} was edited: its hash does not match its fields")
        if row.content is None:
            purged_at.append(row.seq)
        elif not _content_matches(row, digest_of, keys):
            return broken(row.seq, f"{label} was edited: its content does not match its digest")
        if row.type == "purged":
            purged_at.clear()  # a chained purge record accounts for every payload before it
        prev = row.hash
        if row.mac and check_macs:
            assert keys is not None
            problem = keys.mac_problem(row.hash, row.mac)
            if problem is not None:
                first = authenticated + 1
                span = f"events {first}-{row.seq}" if first < row.seq else label
                return broken(first, f"{span}: {problem}")
            authenticated = row.seq
        if row.signature and check_signatures:
            assert keys is not None
            problem = keys.signature_problem(head_message(run_id, row.seq, row.hash), row.signature)
            if problem is not None:
                return broken(row.seq, f"{label}: {problem}")
            signed = row.seq
    if purged_at and keyed:
        return broken(
            purged_at[0],
            f"event {purged_at[0]} has no payload, but no purge record follows it in the "
            "chain: the payload was deleted in the database, not by retention",
        )
    if check_macs and rows and authenticated < len(rows) - 1:
        return broken(
            authenticated + 1,
            f"events {authenticated + 1}-{len(rows) - 1} carry no MAC of the store's key: "
            "they were appended by someone without the key",
        )
    if check_signatures:
        unsigned = next(
            (row for row in reversed(rows) if row.type in SIGNED_EVENTS and row.seq > signed),
            None,
        )
        if unsigned is not None:
            return broken(
                unsigned.seq,
                f"event {unsigned.seq} ({unsigned.type}) decides, but no signature covers it: "
                "it was added, or its signature removed, by someone without the evidence key",
            )
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
    return ChainReport(
        run_id=run_id, events=len(rows), head_hash=prev, keyed=keyed, signed_through=signed
    )


def _content_matches(
    row: EventRow, digest_of: Callable[[Any], str], keys: EvidenceKeys | None
) -> bool:
    """Whether ``row``'s payload matches its digest: public (SHA-256) or keyed
    (``<key id>.<HMAC>``, checked only where the store secret is held)."""
    assert row.content is not None
    if "." not in row.content_digest:
        return bool(digest_of(row.content) == row.content_digest)
    if keys is None or not keys.digest_keys:
        return True  # a keyed digest: only the secret's holder can tell (and the MAC did)
    return keys.content_digest_matches(canonical_json(row.content), row.content_digest) is not False


def _record_disagrees(run: RunRecord, rows: list[EventRow]) -> tuple[int, str] | None:
    """Where the run's summary row says something its (verified) log does not: the row is
    an index, and code reads it (who started the run and may see it, under which contract
    and workflow, how it ended), so an edit there must not pass for the truth."""
    first, last = rows[0], rows[-1]
    if first.type == "run_started":
        started = first.meta
        fields: dict[str, tuple[str | None, Any]] = {
            "workflow": (run.workflow, started.get("workflow")),
            "contract_hash": (run.contract_hash, started.get("contract_hash")),
        }
        # Runs recorded before these fields were chained have none to compare.
        if run.started_by or first.keyed:
            fields["started_by"] = (run.started_by, started.get("started_by"))
        for name in ("tenant", "workflow_ref"):
            if name in started:
                fields[name] = (getattr(run, name), started[name])
        # A run without a session records none (runs from before sessions neither).
        fields["session"] = (run.session, started.get("session"))
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


def chained_approval(approval: ApprovalRecord, rows: list[EventRow]) -> ApprovalRecord:
    """``approval`` as its run's chained ``approval_requested`` asked it: the call, tool,
    digest, rule, reason, approver, expiry and arguments an approver is shown come from the
    log, not from the approvals table (an index anyone with the database can edit). Its
    status and decision stay the table's."""
    asked = _request(approval, rows)
    if asked is None:
        return approval
    meta = asked.meta
    return replace(
        approval,
        call_id=str(meta.get("call_id", approval.call_id)),
        tool=str(meta.get("tool", approval.tool)),
        args_digest=str(meta.get("args_digest", approval.args_digest)),
        rule=str(meta.get("rule", approval.rule)),
        reason=str(meta.get("reason", approval.reason)),
        approver=str(meta.get("by", approval.approver)),
        expires_at=meta.get("expires_at", approval.expires_at),
        arguments={} if asked.content is None else dict(asked.content.get("arguments", {})),
    )


def _request(approval: ApprovalRecord, rows: list[EventRow]) -> EventRow | None:
    return next(
        (
            row
            for row in rows
            if row.type == "approval_requested"
            and row.meta.get("approval_id") == approval.approval_id
        ),
        None,
    )


def approval_disagreement(
    approval: ApprovalRecord, rows: list[EventRow]
) -> tuple[int | None, str] | None:
    """Where the approvals row (an index, and what an approver is shown) says something
    other than the chained ``approval_requested``: ``(its seq, what differs)``, or ``None``
    if it agrees. The call, tool, digest, rule and arguments must all match."""
    asked = _request(approval, rows)
    if asked is None:
        return None, "the request itself differs (the log never asked for this approval)"
    fields = {
        "call_id": approval.call_id,
        "tool": approval.tool,
        "args_digest": approval.args_digest,
        "rule": approval.rule,
    }
    differs = [name for name, value in fields.items() if asked.meta.get(name) != value]
    if asked.content is not None and asked.content.get("arguments") != approval.arguments:
        differs.append("arguments")
    if asked.content is None and approval.arguments:
        differs.append("arguments (the log's were purged)")
    if not differs:
        return None
    return asked.seq, f"{', '.join(differs)} differ"


async def verify_run(store: Store, run_id: str, keys: EvidenceKeys | None = None) -> ChainReport:
    """Verify one run's chain as stored."""
    return verify_rows(run_id, await store.events(run_id), await store.get_run(run_id), keys)
