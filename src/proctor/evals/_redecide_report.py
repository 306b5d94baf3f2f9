"""What re-deciding recorded runs under a candidate contract found: the values.

A ``DecisionChange`` is one recorded decision the candidate would make differently; a
``RunChanges`` holds one run's changes and what could not be compared; ``ChangeTotals`` adds
them up for a summary line and a CI gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ChangeKind = Literal["newly_denied", "newly_allowed", "newly_held", "other_rule"]
"""How a decision changed: the candidate denies (or refuses the answer), allows (or
accepts it), holds the call for approval, or decides the same way by another rule."""

Subject = Literal["call", "answer"]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A decision's kind, rule and reason. For a final answer, ``allow`` means it stood
    (rule ``default.allow``) and ``deny`` that it was refused or ended the run."""

    kind: Literal["allow", "deny", "require_approval"]
    rule: str | None
    """``None``: the record does not say which rule (a run that ended ``failed``)."""
    reason: str = ""

    def __str__(self) -> str:
        return self.kind if self.rule is None else f"{self.kind} [{self.rule}]"


@dataclass(frozen=True, kw_only=True)
class DecisionChange:
    """One recorded decision that the candidate contract would make differently."""

    run_id: str
    subject: Subject
    call_id: str | None
    """The proposed call's id (``None`` for a final answer)."""
    tool: str | None
    step: int | None
    """The call's step in the run, or the model turn of a final answer."""
    recorded: Verdict
    candidate: Verdict
    redacted: bool = False
    """The record's arguments (or answer text) hold redaction placeholders: the candidate
    decided on those, and the live values may decide otherwise."""

    @property
    def change(self) -> ChangeKind:
        before, after = self.recorded.kind, self.candidate.kind
        if before == after:
            return "other_rule"
        if after == "deny":
            return "newly_denied"
        return "newly_allowed" if after == "allow" else "newly_held"


@dataclass(frozen=True, kw_only=True)
class Unchecked:
    """A recorded decision that could not be compared, and why."""

    subject: Subject
    call_id: str | None
    tool: str | None
    step: int | None
    why: str


@dataclass(kw_only=True)
class RunChanges:
    """One recorded run, re-decided under the candidate contract."""

    run_id: str
    contract_hash: str
    """The contract version the run was recorded under."""
    checked: int = 0
    """Decisions compared (tool calls and final answers)."""
    redacted: int = 0
    """Of those, decisions compared on redacted arguments or text."""
    changes: list[DecisionChange] = field(default_factory=list)
    unchecked: list[Unchecked] = field(default_factory=list)
    purged: bool = False
    """Retention purged the run's content: nothing of it was compared."""
    notes: list[str] = field(default_factory=list)
    """What a reader should know about how far the comparison goes (a redacted input)."""


@dataclass(frozen=True, kw_only=True)
class ChangeTotals:
    """What re-deciding a set of runs found, added up."""

    runs: int
    checked: int
    changed: int
    newly_denied: int
    newly_allowed: int
    newly_held: int
    other_rule: int
    redacted: int
    unchecked: int
    purged_runs: int

    @classmethod
    def of(cls, results: Sequence[RunChanges]) -> ChangeTotals:
        changes = [change for run in results for change in run.changes]
        kinds = [change.change for change in changes]
        return cls(
            runs=len(results),
            checked=sum(run.checked for run in results),
            changed=len(changes),
            newly_denied=kinds.count("newly_denied"),
            newly_allowed=kinds.count("newly_allowed"),
            newly_held=kinds.count("newly_held"),
            other_rule=kinds.count("other_rule"),
            redacted=sum(run.redacted for run in results),
            unchecked=sum(len(run.unchecked) for run in results),
            purged_runs=sum(run.purged for run in results),
        )

    def summary(self) -> str:
        """One line: ``12 run(s), 58 decision(s) checked: 2 changed (1 newly denied, ...)``."""
        head = f"{self.runs} run(s), {self.checked} decision(s) checked: "
        if not self.changed:
            head += "no decision changes"
        else:
            parts = [
                f"{count} {label}"
                for count, label in (
                    (self.newly_denied, "newly denied"),
                    (self.newly_allowed, "newly allowed"),
                    (self.newly_held, "newly held for approval"),
                    (self.other_rule, "decided by another rule"),
                )
                if count
            ]
            head += f"{self.changed} changed ({', '.join(parts)})"
        skipped = []
        if self.redacted:
            skipped.append(f"{self.redacted} decided on redacted values")
        if self.unchecked:
            skipped.append(f"{self.unchecked} decision(s) not compared")
        if self.purged_runs:
            skipped.append(f"{self.purged_runs} run(s) purged by retention")
        return head + (f"; {', '.join(skipped)}" if skipped else "")


def changes_json(
    candidate: str, results: Sequence[RunChanges], *, candidate_hash: str = ""
) -> dict[str, Any]:
    """The whole report as JSON-ready data: the candidate, the totals, each run."""
    runs = []
    for run in results:
        entry = asdict(run)
        for change, dumped in zip(run.changes, entry["changes"], strict=True):
            dumped["change"] = change.change
        runs.append(entry)
    return {
        "candidate": candidate,
        "candidate_hash": candidate_hash,
        "totals": asdict(ChangeTotals.of(results)),
        "runs": runs,
    }
