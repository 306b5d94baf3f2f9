"""Canary rollout: which runs a contract's ``rollout`` (``Rollout``, in ``_model``) sends
to its candidate contract.

Assignment is a pure function of the run id: ``sha256(run_id)``'s first 32 bits, modulo
10,000, is the run's bucket, and buckets below ``percent * 100`` run under the candidate.
The same run id lands in the same bucket in every process and every Python version
(``hash()`` is salted per process; sha256 is not), so a resumed run, a report and a
test all agree on which contract a run belongs to.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
"""Assignment granularity: one bucket is 0.01 percent of runs."""


def canary_bucket(run_id: str) -> int:
    """The run's bucket, 0 to 9,999: stable across processes, hosts and Python versions."""
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % BUCKETS


def takes_candidate(run_id: str, percent: float) -> bool:
    """Whether a rollout at ``percent`` (0 to 100) runs ``run_id`` under its candidate."""
    return canary_bucket(run_id) < round(percent * BUCKETS / 100)
