"""``proctor gateway serve``: the OpenAI-compatible endpoint of the project's gateway;
``proctor gateway usage``: its spend, from the call ledger."""

from __future__ import annotations

from typing import Any

import typer

from proctor.cli._context import command_group

app = command_group(help="The model gateway: an OpenAI-compatible endpoint.", no_args_is_help=True)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8787, "--port", min=1, max=65535, help="Port to bind."),
    config: str | None = typer.Option(
        None, "--config", help="Project config (default: the global --config, ./proctor.yaml)."
    ),
    access_log: bool = typer.Option(
        False, "--access-log", help="Log every request (the call ledger records them anyway)."
    ),
    govern: list[str] = typer.Option(
        [],
        "--govern",
        help="NAME=CONTRACT_FILE: the conversations of API key (or route) NAME run under "
        "the contract; only allowed tool calls reach the client (repeatable).",
    ),
) -> None:
    """Serve /v1/chat/completions and /v1/models with routes, budgets and limits per key."""
    # Imported here: the CLI's other commands should not pay for FastAPI and uvicorn.
    from proctor.cli._context import options
    from proctor.errors import needs_extra
    from proctor.gateway import load_config
    from proctor.policy import load_signing_key

    with needs_extra("proctor gateway serve"):
        from proctor.endpoint import preflight, run_gateway

    settings = load_config(config or options.config)
    preflight(settings, host)
    governor = _governor(govern)
    secret = load_signing_key()  # keys the cache's keys, as in runs: they share entries
    run_gateway(
        settings,
        db=options.db,
        host=host,
        port=port,
        access_log=access_log,
        cache_secret=secret,
        govern=governor,
        # Told once the port is bound: one taken is a one-line error, never "serving on".
        announce=lambda url: typer.echo(
            f"proctor gateway: serving on {url} (Ctrl-C to stop)", err=True
        ),
    )


def _governor(specs: list[str]) -> Any:
    """The governor factory of ``--govern`` bindings (``None`` without any)."""
    if not specs:
        return None
    from proctor.contracts import load_contract
    from proctor.errors import UsageError
    from proctor.integrations import GoverningGateway

    bindings = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(
                f"--govern {spec!r} is not NAME=CONTRACT_FILE. Fix: e.g. --govern "
                "alice=contracts/desk.yaml (an API key's name or a route)"
            )
        bindings[name.strip()] = load_contract(path.strip())

    def make(gateway: Any, store: Any) -> GoverningGateway:
        return GoverningGateway(store, gateway, bindings)

    return make


@app.command("usage")
def usage(
    since: str = typer.Option(
        "30d", "--since", help="Calls from: an age (7d, 24h) or an ISO date (UTC)."
    ),
    key: str | None = typer.Option(None, "--key", help="Only this API key (its name)."),
    by: list[str] = typer.Option(
        [],
        "--by",
        metavar="key|route|model|day",
        help="Rows per key, route, model or day (repeatable, or comma-separated; default: key).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Spend of the gateway endpoint from its call ledger: calls, tokens and cost."""
    from rich.markup import escape

    from proctor.cli._context import console, with_store
    from proctor.cli._render import new_table, to_json
    from proctor.store import check_usage_dimensions
    from proctor.telemetry import parse_since

    dimensions = check_usage_dimensions(
        [part.strip() for value in by for part in value.split(",") if part.strip()] or ["key"]
    )
    start = parse_since(since)
    rows = with_store(
        lambda store: store.gateway_usage(dimensions, since=start, key_name=key), create=False
    )
    if as_json:
        print(to_json({"since": start, "by": list(dimensions), "rows": rows}))
        return
    if not rows:
        console.print(f"no gateway calls since {since}" + (f" by key {key!r}" if key else ""))
        return
    table = new_table()
    for dimension in dimensions:
        table.add_column(dimension)
    for column in ("calls", "errors", "input tokens", "output tokens", "cache hits", "cost USD"):
        table.add_column(column, justify="right")
    for row in rows:
        names = {"key": row.key_name, "route": row.route, "model": row.model, "day": row.day}
        cost = f"{row.cost_usd:.4f}" + (f" (+{row.unpriced} unpriced)" if row.unpriced else "")
        table.add_row(
            *(escape(names[d] or "(none)") for d in dimensions),
            f"{row.calls:,}",
            f"{row.errors:,}",
            f"{row.input_tokens:,}"
            + (f" ({row.cached_input_tokens:,} cached)" if row.cached_input_tokens else ""),
            f"{row.output_tokens:,}"
            + (f" ({row.reasoning_tokens:,} reasoning)" if row.reasoning_tokens else ""),
            f"{row.cache_hits:,}",
            cost,
        )
    total = sum(row.cost_usd for row in rows)
    table.caption = f"{sum(row.calls for row in rows):,} calls, ${total:.4f} since {since}"
    console.print(table)
