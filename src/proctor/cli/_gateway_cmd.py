"""``proctor gateway serve``: the OpenAI-compatible endpoint of the project's gateway."""

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
    typer.echo(f"proctor gateway: serving on http://{host}:{port}/v1 (Ctrl-C to stop)", err=True)
    run_gateway(
        settings,
        db=options.db,
        host=host,
        port=port,
        access_log=access_log,
        cache_secret=secret,
        govern=governor,
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
