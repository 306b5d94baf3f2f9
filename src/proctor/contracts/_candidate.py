"""Loading a rollout's candidate contract with the contract that names it.

The candidate must be a valid contract file for the same workflow, with different terms
and no rollout of its own; each problem is reported at the ``rollout.candidate`` line
of the main file (and the candidate's own problems at their lines in its file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from proctor.contracts._check import Draft, ParsedFile
from proctor.contracts._model import Contract

ParsePath = Callable[[Path], ParsedFile]
"""Reads and parses a contract file without resolving its own rollout."""


def attach_candidate(
    contract: Contract, draft: Draft, parsed: ParsedFile, parse_path: ParsePath
) -> bool:
    """Load ``contract.rollout``'s candidate into it; False (with problems added) if bad."""
    rollout = contract.rollout
    if rollout is None:
        return True
    at = draft.source_path(("rollout", "candidate"))
    source = Path(parsed.file)
    base = source.parent
    path = Path(rollout.candidate)
    if not path.is_absolute():
        path = base / path
    shown = rollout.candidate
    if not path.is_file():
        parsed.add(
            at,
            f"rollout.candidate {shown!r} does not exist ({path})",
            f"give the candidate contract's path relative to this file's folder ({base})",
        )
        return False
    if path.resolve() == source.resolve():
        parsed.add(
            at,
            "rollout.candidate names this file itself",
            "point it at a second contract file holding the new terms",
        )
        return False
    candidate_file = parse_path(path)
    if candidate_file.problems:
        parsed.problems.extend(candidate_file.problems)
        parsed.add(
            at,
            f"rollout.candidate {shown!r} is not a valid contract",
            f"fix the problems reported in {path}",
        )
        return False
    candidates = candidate_file.contracts
    if contract.workflow not in candidates:
        names = ", ".join(repr(name) for name in candidates)
        parsed.add(
            at,
            f"rollout.candidate {shown!r} is a contract for {names}, "
            f"not for workflow {contract.workflow!r}",
            f"point it at a contract whose 'workflow:' is {contract.workflow!r}",
        )
        return False
    candidate = candidates[contract.workflow]
    if candidate.rollout is not None:
        parsed.add(
            at,
            f"rollout.candidate {shown!r} declares a rollout of its own",
            f"remove the rollout key from {path}: a candidate cannot roll out another",
        )
        return False
    if candidate.content_hash == contract.content_hash:
        parsed.add(
            at,
            f"rollout.candidate {shown!r} has the same terms as this contract (same hash "
            f"{contract.content_hash[:12]}), so its runs could not be told apart",
            "change the candidate's terms (or its version label), or remove the rollout",
        )
        return False
    rollout.bind(candidate, path=path, source=source if source.is_file() else None)
    return True
