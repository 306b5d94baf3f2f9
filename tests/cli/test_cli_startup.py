"""What ``proctor`` loads before it runs a command: Typer and the command groups, not the
runtime (the CPU it costs is measured by benchmarks/cli_startup.py, not timed here)."""

from __future__ import annotations

from proctor.cli import _options
from proctor.evals._rollout import MIN_RUNS
from proctor.runtime._worker import DEFAULT_GRACE_S, DEFAULT_LEASE_S


def test_the_defaults_help_shows_are_the_layers_defaults() -> None:
    assert _options.LEASE_S == DEFAULT_LEASE_S
    assert _options.GRACE_S == DEFAULT_GRACE_S
    assert _options.MIN_RUNS == MIN_RUNS
