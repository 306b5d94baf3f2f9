"""Read-only views of the runs: outcomes, drift between contract versions, rollouts."""
