"""The options ``proctor report drift`` and ``proctor rollout status | promote`` share."""

from __future__ import annotations

import typer

from proctor.cli._options import finite

SINCE = typer.Option("7d", "--since", help="Runs started since: 7d, 24h, 90m or an ISO date.")
CONTRACT = typer.Option(
    None, "--contract", help="The workflow's contract file (the one declaring the rollout)."
)
JSON = typer.Option(False, "--json", help="Print the report as JSON.")
RESOLVED = typer.Option(
    0.05,
    "--max-resolved-drop",
    min=0.0,
    callback=finite,
    help="Alert on a drop in resolved rate (0-1).",
)
FAILURE = typer.Option(
    0.05,
    "--max-failure-rise",
    min=0.0,
    callback=finite,
    help="Alert on a rise in failure rate (0-1).",
)
ESCALATION = typer.Option(
    0.05,
    "--max-escalation-change",
    min=0.0,
    callback=finite,
    help="Alert on a change in escalation rate (0-1).",
)
TOOLS = typer.Option(
    0.2,
    "--max-tool-calls-change",
    min=0.0,
    callback=finite,
    help="Alert on a relative change in tool calls.",
)
COST = typer.Option(
    0.2, "--max-cost-rise", min=0.0, callback=finite, help="Alert on a relative rise in cost."
)
