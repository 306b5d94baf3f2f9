"""The runtime acts only on runs whose record verifies.

Resuming a run, or recording a decision on its approval, reads the run's log and acts on
it (pays, sends, hands off). A log or run record someone edited in the database must not
drive anything: the chain is checked first (``verify_rows``, the same check as ``proctor
audit verify``), and a run that fails it is refused with the first bad event named.
"""

from __future__ import annotations

from proctor.errors import RunStateError
from proctor.store import EventRow, RunRecord, verify_rows


class UnverifiedRunError(RunStateError):
    """The run's log, or its record, does not verify: nothing acts on it."""

    def __init__(self, message: str, *, run_id: str, bad_seq: int | None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.bad_seq = bad_seq


def ensure_verified(run_id: str, rows: list[EventRow], run: RunRecord | None, doing: str) -> None:
    """Raise ``UnverifiedRunError`` unless ``rows`` (and ``run``) verify; ``doing`` says what
    was refused (``resume``, ``decide an approval of``)."""
    report = verify_rows(run_id, rows, run)
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
