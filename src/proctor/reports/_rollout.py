"""Canary rollouts: how runs split between a contract and its candidate, and promotion.

A contract's ``rollout`` sends ``percent`` of new runs to a candidate contract (see
``proctor.contracts.Rollout``). ``rollout_status`` reports the split and the drift
between the two in a window; ``check_promotion`` gives the reasons not to promote (any
drift alert, too few candidate runs); ``promote_candidate`` makes the candidate the
contract by copying its file over the main one, keeping a ``.bak`` of the old.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from proctor.contracts import Contract, ContractDiff, Rollout, diff_contracts, load_contract
from proctor.errors import ConfigError, UsageError
from proctor.reports._drift import DriftReport, DriftThresholds, compare
from proctor.reports._production import NoRunsError, Version, VersionRuns, iso, version_runs
from proctor.store import RunFilter, Store

MIN_RUNS = 20
"""Finished candidate runs ``check_promotion`` wants in the window by default."""


def rollout_of(contract: Contract, *, where: str) -> Rollout:
    """The contract's rollout, or a ``UsageError`` saying how to declare one; ``where``
    completes "the <workflow> contract ...", e.g. ``in contract.yaml``."""
    if contract.rollout is None:
        raise UsageError(
            f"the {contract.workflow} contract {where} has no rollout. Fix: add "
            "'rollout: {candidate: candidate.yaml, percent: 10}' to it (docs/rollout.md), "
            "or compare two stored versions with --baseline and --candidate"
        )
    return contract.rollout


@dataclass(frozen=True, kw_only=True)
class RolloutStatus:
    """Runs per version in the window, and the drift of the candidate from the baseline."""

    workflow: str
    percent: float
    since: float
    until: float
    baseline: VersionRuns
    candidate: VersionRuns
    other_runs: int
    """Runs started in the window under any other contract version."""
    drift: DriftReport | None
    no_drift: str | None = None
    """Why there is no drift report (a side without finished runs)."""

    @property
    def candidate_share(self) -> float | None:
        """Observed fraction of the two versions' runs that ran under the candidate."""
        before = self.baseline.runs + self.baseline.in_progress
        after = self.candidate.runs + self.candidate.in_progress
        return after / (before + after) if before + after else None


async def rollout_status(
    store: Store,
    workflow: str,
    contract: Contract,
    *,
    since: float,
    until: float,
    thresholds: DriftThresholds | None = None,
) -> RolloutStatus:
    """The split and the drift of ``contract``'s rollout over runs started in the window."""
    rollout = rollout_of(contract, where=f"of workflow {workflow!r}")
    baseline = await version_runs(store, workflow, Version.of(contract), since=since, until=until)
    candidate = await version_runs(
        store, workflow, Version.of(rollout.contract), since=since, until=until
    )
    window = RunFilter(workflow=workflow, since=since, until=until, limit=2**62)
    started = [r for r in await store.list_runs(window) if since <= r.started_at < until]
    ours = {baseline.version.content_hash, candidate.version.content_hash}
    drift, no_drift = None, None
    try:
        drift = compare(
            workflow, baseline, candidate, since=since, until=until, thresholds=thresholds
        )
    except NoRunsError as exc:
        no_drift = str(exc)
    return RolloutStatus(
        workflow=workflow,
        percent=rollout.percent,
        since=since,
        until=until,
        baseline=baseline,
        candidate=candidate,
        other_runs=sum(run.contract_hash not in ours for run in started),
        drift=drift,
        no_drift=no_drift,
    )


@dataclass(frozen=True, kw_only=True)
class PromotionCheck:
    """Whether the candidate may become the contract, and if not, every reason why."""

    status: RolloutStatus
    min_runs: int
    reasons: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.reasons


async def check_promotion(
    store: Store,
    workflow: str,
    contract: Contract,
    *,
    since: float,
    until: float,
    thresholds: DriftThresholds | None = None,
    min_runs: int = MIN_RUNS,
) -> PromotionCheck:
    """The rollout's status, with a reason for each thing that stands in promotion's way:
    too few finished candidate runs, no baseline runs to compare with, or any drift alert
    (cost, tool calls, resolved or failure rate, escalation rate)."""
    status = await rollout_status(
        store, workflow, contract, since=since, until=until, thresholds=thresholds
    )
    reasons = []
    if status.candidate.runs < min_runs:
        reasons.append(
            f"only {status.candidate.runs} finished candidate run(s) since "
            f"{iso(since)}, fewer than {min_runs}: wait for more (or lower --min-runs)"
        )
    if not status.baseline.runs:
        reasons.append(
            f"no finished baseline runs since {iso(since)} to compare with: widen --since"
        )
    if status.drift is not None:
        reasons.extend(
            f"drift alert ({gate.replace('_', ' ')}): {alert}"
            for gate, alert in status.drift.gated_alerts()
        )
    return PromotionCheck(status=status, min_runs=min_runs, reasons=reasons)


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """What ``promote_candidate`` did."""

    contract_file: Path
    backup: Path
    candidate_file: Path
    diff: ContractDiff


def promote_candidate(contract_file: Path, contract: Contract) -> Promotion:
    """Make the rollout's candidate the contract: copy its file over ``contract_file``
    (the file ``contract`` was loaded from), keeping the old one as ``<file>.bak``."""
    rollout = rollout_of(contract, where=f"in {contract_file}")
    candidate_file = rollout.candidate_path
    if candidate_file is None or not candidate_file.is_file():
        raise ConfigError(
            f"the rollout's candidate {rollout.candidate!r} is not a file here. Fix: load the "
            f"contract from {contract_file}, beside its candidate"
        )
    text = candidate_file.read_text(encoding="utf-8")
    backup = contract_file.with_name(contract_file.name + ".bak")
    staged = contract_file.with_name(f".{contract_file.name}.promoting")
    try:
        shutil.copy2(contract_file, backup)
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, contract_file)  # atomic: the file is the old or the new, never half
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot rewrite {contract_file}: {exc.strerror or exc}. Fix: make the file and "
            "its folder writable"
        ) from None
    promoted = load_contract(contract_file, workflow=contract.workflow)
    if promoted.content_hash != rollout.contract.content_hash:  # pragma: no cover - defensive
        raise ConfigError(
            f"{contract_file} does not load as the candidate after the copy; the old "
            f"contract is in {backup}"
        )
    diff = diff_contracts(
        contract, promoted, a_label=f"{backup.name}", b_label=f"{contract_file.name}"
    )
    return Promotion(
        contract_file=contract_file, backup=backup, candidate_file=candidate_file, diff=diff
    )
