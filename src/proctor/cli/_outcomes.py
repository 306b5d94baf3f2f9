"""Exit codes of the commands that drive a run (``run``, ``resume``): one per outcome, so a
script can tell a resolved run from one a person must look at."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proctor.runtime import RunResult

EXIT_CODES: dict[str, int] = {
    "resolved": 0,
    "escalated": 3,
    "failed": 4,
    "draft_only": 5,
    "cancelled": 6,
    "awaiting_approval": 10,
}
"""By outcome (or ``awaiting_approval``, a run paused for a person). 1 is an error of the
command, 2 a usage error, 130 a run interrupted (Ctrl-C)."""

INTERRUPTED = 130


def exit_code(result: RunResult) -> int:
    """The exit code for a run as the command left it."""
    state = result.outcome if result.status == "finished" else result.status
    return EXIT_CODES.get(state or "", 1)
