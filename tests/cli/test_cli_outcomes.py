"""`proctor run` and `resume` exit by outcome: distinct codes, 0 only for resolved."""

from __future__ import annotations

from typing import get_args

from proctor.cli._outcomes import EXIT_CODES, INTERRUPTED
from proctor.store import Outcome


def test_every_outcome_has_its_own_code_and_only_resolved_is_zero() -> None:
    states = [*get_args(Outcome), "awaiting_approval"]
    assert sorted(EXIT_CODES) == sorted(states)
    codes = [EXIT_CODES[state] for state in states]
    assert len(set(codes)) == len(codes)
    assert [state for state in states if EXIT_CODES[state] == 0] == ["resolved"]
    # 1 and 2 are the command's own errors, 130 an interruption: never an outcome.
    assert not {1, 2, INTERRUPTED} & set(codes)
