"""Bounds for the CLI's numbers: what the stores' columns and the clock can take.

An integer option without ``max`` takes any size, and one beyond 64 bits failed in the
store; a number option without ``max`` takes infinity (and one without bounds NaN), so a
threshold of ``inf`` would never alert.
"""

from __future__ import annotations

import math

import typer

MAX_COUNT = 1_000_000
"""``--limit``, ``--concurrency``, ``--min-runs``: far above any use, inside 64 bits."""
MAX_PRIORITY = 2**31 - 1
"""``--priority``, either way: the run queue's column is a PostgreSQL INTEGER."""

# Defaults --help shows, written here because importing them would load the runtime and
# evals layers for every command; tests/cli/test_cli_startup.py checks they still agree.
LEASE_S = 30.0
"""``proctor worker --lease``: ``proctor.runtime``'s ``DEFAULT_LEASE_S``."""
GRACE_S = 30.0
"""``proctor worker --grace``: ``proctor.runtime``'s ``DEFAULT_GRACE_S``."""
MIN_RUNS = 20
"""``proctor rollout promote --min-runs``: ``proctor.evals``' ``MIN_RUNS``."""


def stored_name(workflow: str | None) -> str | None:
    """The name runs of ``workflow`` are stored under: a name as typed, and a
    ``package.module:attribute`` ref imported for its workflow's name (only then is the
    runtime loaded), so every command takes either spelling."""
    if workflow is None or ":" not in workflow:
        return workflow
    from proctor.cli._workflows import load_workflow

    return load_workflow(workflow).name


def finite(value: float | None) -> float | None:
    """Typer callback for a number option: NaN and infinity are usage errors."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value
