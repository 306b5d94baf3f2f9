"""Canary rollout: a contract may send a share of new runs to a candidate contract.

Assignment is a pure function of the run id: ``sha256(run_id)``'s first 32 bits, modulo
10,000, is the run's bucket, and buckets below ``percent * 100`` run under the candidate.
The same run id lands in the same bucket in every process and every Python version
(``hash()`` is salted per process; sha256 is not), so a resumed run, a report and a
test all agree on which contract a run belongs to.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator

from proctor.errors import ConfigError

if TYPE_CHECKING:
    from proctor.contracts._model import Contract

BUCKETS = 10_000
"""Assignment granularity: one bucket is 0.01 percent of runs."""


def canary_bucket(run_id: str) -> int:
    """The run's bucket, 0 to 9,999: stable across processes, hosts and Python versions."""
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % BUCKETS


def takes_candidate(run_id: str, percent: float) -> bool:
    """Whether a rollout at ``percent`` (0 to 100) runs ``run_id`` under its candidate."""
    return canary_bucket(run_id) < round(percent * BUCKETS / 100)


class Rollout(BaseModel):
    """Run ``percent`` of new runs under the ``candidate`` contract (a canary)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str
    """Path of the candidate contract's YAML file, relative to this contract's file."""
    percent: float
    """Share of new runs, 0 to 100, that start under the candidate (by run id)."""

    # Filled in by the loader: the candidate as loaded, and where both files are.
    _contract: Any = PrivateAttr(default=None)
    _candidate_path: Path | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("percent")
    @classmethod
    def _a_share(cls, value: float) -> float:
        if not 0 <= value <= 100:
            raise ValueError(
                f"rollout.percent must be from 0 (no run) to 100 (every run), got {value:g}"
            )
        return value

    def takes(self, run_id: str) -> bool:
        """Whether the run with this id starts under the candidate."""
        return takes_candidate(run_id, self.percent)

    @property
    def contract(self) -> Contract:
        """The candidate contract, as loaded with this one."""
        if self._contract is None:
            raise ConfigError(
                f"the rollout's candidate {self.candidate!r} was never loaded. Fix: load the "
                "contract from its file with load_contract(path), which reads the candidate"
            )
        found: Contract = self._contract
        return found

    @property
    def candidate_path(self) -> Path | None:
        """The candidate's file, resolved (None when the contract was not loaded from one)."""
        return self._candidate_path

    @property
    def source(self) -> Path | None:
        """The file of the contract that declares this rollout (promotion rewrites it)."""
        return self._source

    def bind(self, candidate: Contract, *, path: Path | None, source: Path | None) -> None:
        """Attach the loaded candidate (the loader calls this once, before anyone reads it)."""
        self._contract = candidate
        self._candidate_path = path
        self._source = source
