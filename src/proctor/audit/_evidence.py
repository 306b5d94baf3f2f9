"""Store-wide evidence: signed checkpoints over every run's head, and verifying a whole
store (every run's chain, MACs and signatures, and the checkpoint log) with the store's
keys or with public keys only.

A checkpoint is a signed statement "at this time, these were all the runs and their
heads": an RFC 6962 Merkle root over ``[run_id, last_seq, head_hash]`` leaves (RFC 8785
JSON, sorted by run id), chained to the checkpoint before it. Verify compares the store
with its latest checkpoint (and with any exported one): a run deleted, replaced or cut
back since is named. Export checkpoints somewhere the database's owner cannot write:
that copy is what catches a checkpoint log rewritten with the database.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from proctor.errors import ConfigError, StoreError, UsageError
from proctor.store import (
    GENESIS_HASH,
    ApprovalRecord,
    ChainReport,
    CheckpointRecord,
    EventRow,
    EvidenceKeys,
    Store,
    approval_disagreement,
    jcs,
    merkle_root,
    sealed_problem,
    verify_rows,
)
from proctor.store._evidence import checkpoint_message

Head = tuple[str, int, str]


def checkpoint_hash(record: CheckpointRecord) -> str:
    """``sha256(jcs({seq, created_at, runs, root, prev_hash}))``."""
    fields = {
        "seq": record.seq,
        "created_at": record.created_at,
        "runs": record.runs,
        "root": record.root,
        "prev_hash": record.prev_hash,
    }
    return hashlib.sha256(jcs(fields)).hexdigest()


def heads_root(heads: Sequence[Head]) -> str:
    """The Merkle root over ``heads`` (sorted by run id, each ``jcs([id, seq, hash])``)."""
    return merkle_root([jcs(list(head)) for head in sorted(heads)])


class CheckpointRefused(StoreError):
    """Runs that do not verify: a checkpoint would sign a forged state."""


async def make_checkpoint(
    store: Store, keys: EvidenceKeys, *, now: float | None = None
) -> CheckpointRecord:
    """Sign every run's current head into the next checkpoint. Runs whose head moved
    since the last checkpoint are verified first; any that fails refuses the checkpoint."""
    if keys.signer is None:
        raise ConfigError(
            "checkpoints are signed with the evidence key, and none is loaded. Fix: run "
            "where <home>/evidence.key is, or set PROCTOR_EVIDENCE_KEY"
        )
    earlier = await store.checkpoints()
    last = earlier[-1] if earlier else None
    signed = {head[0]: head for head in await store.checkpoint_heads()}
    heads = await store.run_heads()
    changed = [head for head in heads if signed.get(head[0]) != head]
    problems: list[str] = []
    gone = sorted(set(signed) - {head[0] for head in heads})
    problems.extend(f"{rid}: signed into a checkpoint, now missing from the store" for rid in gone)
    for head in changed:
        report = verify_rows(
            head[0], await store.events(head[0]), await store.get_run(head[0]), keys
        )
        if not report.ok:
            problems.append(f"{report.run_id}: {report.problem}")
        elif head[0] in signed and not _extends(await store.events(head[0]), signed[head[0]]):
            problems.append(f"{head[0]}: no longer holds the head a checkpoint signed")
    if problems:
        raise CheckpointRefused(
            f"{len(problems)} run(s) do not verify, so no checkpoint signs them: "
            f"{'; '.join(problems[:5])}. Inspect them with `proctor audit verify` and "
            "restore the store from a backup"
        )
    record = CheckpointRecord(
        seq=0 if last is None else last.seq + 1,
        created_at=time.time() if now is None else now,
        runs=len(heads),
        root=heads_root(heads),
        prev_hash=GENESIS_HASH if last is None else last.hash,
        hash="",
        signature="",
        heads=list(heads),
    )
    record.hash = checkpoint_hash(record)
    record.signature = keys.sign(checkpoint_message(record.hash))
    await store.add_checkpoint(record, changed)
    return record


def _extends(rows: Sequence[EventRow], head: Head) -> bool:
    """Whether ``rows`` still hold ``head``'s event (the run only grew since)."""
    _, seq, hash_ = head
    return seq < len(rows) and rows[seq].hash == hash_


def checkpoint_problem(
    record: CheckpointRecord,
    keys: EvidenceKeys,
    prev_hash: str | None,
    heads: Sequence[Head] | None,
) -> str | None:
    """Why ``record`` is not a sound checkpoint: its link, its ``heads`` (when known) against
    its root, its hash, its signature."""
    where = f"checkpoint {record.seq}"
    if prev_hash is not None and record.prev_hash != prev_hash:
        return f"{where} does not link to the checkpoint before it: the log was edited"
    if heads is not None and (heads_root(heads) != record.root or record.runs != len(heads)):
        return f"{where}'s signed heads do not give its root: the heads were edited"
    if checkpoint_hash(record) != record.hash:
        return f"{where} was edited: its hash does not match its fields"
    problem = keys.signature_problem(checkpoint_message(record.hash), record.signature)
    return None if problem is None else f"{where}: {problem}"


def export_checkpoint(record: CheckpointRecord, keys: EvidenceKeys) -> dict[str, Any]:
    """``record`` as a JSON document to keep outside the store, with its public key."""
    from proctor.store import public_pem

    kid = record.signature.partition(".")[0]
    public = keys.public_keys.get(kid)
    return {
        "format": "proctor-checkpoint/1",
        "seq": record.seq,
        "created_at": record.created_at,
        "runs": record.runs,
        "root": record.root,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "signature": record.signature,
        "public_key": None if public is None else public_pem(public).decode(),
        "heads": [list(head) for head in record.heads],
    }


def load_checkpoint(document: Any, *, where: str) -> CheckpointRecord:
    """An exported checkpoint back as a record; a clear error if it is not one."""
    try:
        if document.get("format") != "proctor-checkpoint/1":
            raise ValueError("its format is not proctor-checkpoint/1")
        return CheckpointRecord(
            seq=int(document["seq"]),
            created_at=float(document["created_at"]),
            runs=int(document["runs"]),
            root=str(document["root"]),
            prev_hash=str(document["prev_hash"]),
            hash=str(document["hash"]),
            signature=str(document["signature"]),
            heads=[(str(h[0]), int(h[1]), str(h[2])) for h in document["heads"]],
        )
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise UsageError(
            f"{where} is not an exported checkpoint ({exc}). Fix: export one with "
            "`proctor audit checkpoint --export FILE`"
        ) from None


@dataclass(kw_only=True)
class StoreReport:
    """What verifying a store found: each run's chain, and the checkpoints'."""

    runs: list[ChainReport]
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    """Checkpoint problems: runs deleted or cut back, a checkpoint log edited."""

    @property
    def ok(self) -> bool:
        return not self.problems and all(report.ok for report in self.runs)


async def verify_store(
    store: Store,
    keys: EvidenceKeys | None,
    *,
    run_id: str | None = None,
    exported: Sequence[CheckpointRecord] = (),
) -> StoreReport:
    """Verify every run (or ``run_id``) and, with ``keys``, the checkpoint log and the
    store against its latest checkpoint and each ``exported`` one."""
    checkpoints = await store.checkpoints() if keys is not None else []
    problems: list[str] = []
    prev: str | None = GENESIS_HASH
    compare: list[CheckpointRecord] = []
    for index, record in enumerate(checkpoints):
        assert keys is not None
        latest = index == len(checkpoints) - 1
        if latest:  # the store keeps the leaves of its latest checkpoint only
            record.heads = await store.checkpoint_heads()
            compare.append(record)
        problem = checkpoint_problem(record, keys, prev, record.heads if latest else None)
        if problem is not None:
            problems.append(problem)
        prev = record.hash
    by_hash = {record.hash: record for record in checkpoints}
    for record in exported:
        assert keys is not None
        problem = checkpoint_problem(record, keys, None, record.heads)
        if problem is not None:
            problems.append(f"the exported {problem}")
            continue
        if record.hash not in by_hash:
            problems.append(
                f"the store's checkpoint log no longer holds exported checkpoint {record.seq} "
                f"({record.hash[:12]}): its checkpoints were rewritten or deleted"
            )
        compare.append(record)
    # Each compared checkpoint: the hash it signed for each run, at that event.
    expected: dict[str, list[tuple[int, str, int]]] = {}
    for record in compare:
        for rid, seq, hash_ in record.heads:
            if run_id is None or rid == run_id:
                expected.setdefault(rid, []).append((seq, hash_, record.seq))
    ids = [run_id] if run_id else await store.run_ids()
    approvals: dict[str, list[ApprovalRecord]] = {}
    for approval in await store.list_approvals(None, run_ids=None if run_id is None else [run_id]):
        approvals.setdefault(approval.run_id, []).append(approval)
    reports: list[ChainReport] = []
    for rid in ids:
        rows = await store.events(rid)
        report = verify_rows(rid, rows, await store.get_run(rid), keys)
        if report.ok and keys is not None and keys.can_seal:
            unreadable = sealed_problem(keys, rid, rows, await store.run_key(rid))
            if unreadable is not None:
                report = replace(report, problem=unreadable[1], bad_seq=unreadable[0])
        reports.append(report)
        for approval in approvals.get(rid, []):
            found = approval_disagreement(approval, rows)
            if found is not None:
                where = "" if found[0] is None else f" (event {found[0]})"
                problems.append(
                    f"run {rid}: approval {approval.approval_id} does not match the log"
                    f"{where}: {found[1]}: the approvals table was edited"
                )
        for seq, hash_, number in expected.pop(rid, []):
            if seq >= len(rows) or rows[seq].hash != hash_:
                problems.append(
                    f"run {rid} no longer holds event {seq} as checkpoint {number} signed it: "
                    "the run was replaced or cut back"
                )
    for rid, seen in sorted(expected.items()):
        problems.append(
            f"run {rid} is signed into checkpoint {seen[0][2]} but is not in the store: "
            "it was deleted"
        )
    return StoreReport(runs=reports, checkpoints=len(checkpoints), problems=problems)
