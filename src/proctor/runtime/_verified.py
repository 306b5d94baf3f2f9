"""The runtime acts only on runs whose record verifies.

Resuming a run, or recording a decision on its approval, reads the run's log and acts on
it (pays, sends, hands off). A log or run record someone edited in the database must not
drive anything: the chain is checked first (``verify_rows``, the same check as ``proctor
audit verify``), and a run that fails it is refused with the first bad event named.
"""

from __future__ import annotations

from proctor.errors import RunStateError
from proctor.store import ApprovalRecord, EventRow, EvidenceKeys, RunRecord, verify_rows


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


def ensure_approval_matches(approval: ApprovalRecord, rows: list[EventRow]) -> None:
    """Raise ``UnverifiedRunError`` unless the approvals row (what the approver is shown)
    says what the run's verified log asked: the same call, tool, digest, rule and
    arguments. The row is an index; the chained ``approval_requested`` is the record."""
    asked = next(
        (
            row
            for row in rows
            if row.type == "approval_requested"
            and row.meta.get("approval_id") == approval.approval_id
        ),
        None,
    )
    if asked is None:
        differs = ["the request itself (the log never asked for this approval)"]
        seq = None
    else:
        seq = asked.seq
        fields = {
            "call_id": approval.call_id,
            "tool": approval.tool,
            "args_digest": approval.args_digest,
            "rule": approval.rule,
        }
        differs = [name for name, value in fields.items() if asked.meta.get(name) != value]
        if asked.content is not None and asked.content.get("arguments") != approval.arguments:
            differs.append("arguments")
    if differs:
        where = "" if seq is None else f" (event {seq})"
        raise UnverifiedRunError(
            f"approval {approval.approval_id} does not match its run's log{where}: "
            f"{', '.join(differs)} differ. The approvals table was edited, so what an approver "
            "was shown is not what the run asked; nothing is recorded. Inspect run "
            f"{approval.run_id} with `proctor audit verify` and restore the store from a backup",
            run_id=approval.run_id,
            bad_seq=seq,
        )
