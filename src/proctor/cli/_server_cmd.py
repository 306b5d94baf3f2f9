"""``proctor serve`` (the HTTP API and web UI) and ``proctor keys`` (its API keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from proctor.cli._context import command_group, console, options, os_user, with_store
from proctor.errors import needs_extra

if TYPE_CHECKING:
    pass

app = command_group()
keys_app = command_group(
    help="API keys of the HTTP API (proctor serve): create, list, revoke.", no_args_is_help=True
)


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (default: this machine only)."
    ),
    port: int = typer.Option(8700, "--port", min=1, max=65535, help="Port to bind."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    workflow: list[str] = typer.Option(
        [],
        "--workflow",
        "-w",
        metavar="REF",
        help="A workflow API requests may name, as package.module:attribute (repeatable; "
        "registered workflows and those in proctor.yaml workflows: or $PROCTOR_WORKFLOWS "
        "need none).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A host name clients reach the server by (its Host header), besides --host and "
        "the loopback names; repeat for each.",
    ),
    max_body_bytes: int = typer.Option(
        8 * 1024 * 1024, "--max-body-bytes", min=1024, help="Largest API request body."
    ),
    enqueue: bool = typer.Option(
        False,
        "--enqueue",
        envvar="PROCTOR_SERVE_ENQUEUE",
        help="Put runs started over the API on the store's run queue, for proctor worker "
        "processes to drive, instead of driving them in this process.",
    ),
) -> None:
    """Serve the HTTP API and the web UI over the store, until Ctrl-C.

    On first start it creates an admin API key and prints it once.
    """
    # Imported here: the CLI's other commands should not pay for FastAPI and uvicorn.
    with needs_extra("proctor serve"):
        from proctor.server._hosts import check_host_name
        from proctor.server._serve import Started, is_loopback
        from proctor.server._serve import serve as run_server

    for name in allowed_host:
        check_host_name(name)
    if not is_loopback(host):
        console.print(
            f"[yellow]warning: {escape(host)} is reachable from other machines, and this "
            "server speaks plain HTTP: API keys and sessions travel in clear. Put a TLS "
            "proxy in front of it, or bind 127.0.0.1[/]"
        )

    def announce(started: Started) -> None:
        if started.admin_key is not None:
            console.print(
                f"First admin key (shown once, store it now): [bold]{started.admin_key}[/]",
                highlight=False,
            )
        if started.sso is not None:
            console.print(
                f"Single sign-on with {started.sso}: register {started.url}login/sso/callback "
                "(at the address people use) as the client's redirect URI there",
                highlight=False,
            )
        console.print(
            f"Proctor UI: {started.url} — API docs: {started.url}docs (Ctrl-C to stop)",
            highlight=False,
        )
        if enqueue:
            console.print(
                "runs started over the API go to the run queue: start proctor worker "
                "processes to drive them",
                highlight=False,
            )
        console.file.flush()  # piped output is buffered: show the key and URL now

    run_server(
        db=options.db,
        config=options.config,
        host=host,
        port=port,
        announce=announce,
        access_log=access_log,
        workflows=workflow,
        allowed_hosts=allowed_host,
        max_body_bytes=max_body_bytes,
        enqueue=enqueue,
    )


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="viewer, operator, approver or admin."),
    tenant: str = typer.Option(..., "--tenant", help="The tenant the key sees (e.g. acme)."),
    name: str | None = typer.Option(None, "--name", help="The key's label (default: its id)."),
    holder: str | None = typer.Option(
        None,
        "--holder",
        help="The person or service it belongs to, whose identity its runs and decisions "
        "record and separation of duties compares (default: its name).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the key and its record as JSON."),
) -> None:
    """Create an API key; the key is printed this once (the store keeps its digest only)."""
    from proctor.cli._render import to_json
    from proctor.store import key_document

    with needs_extra("proctor keys create"):
        from proctor.server._keys import check_holder, check_role, check_tenant, create_api_key

    check_role(role)
    check_tenant(tenant)  # all three refused before the store is opened
    if holder is not None:
        check_holder(holder)
    record, token = with_store(
        lambda store: create_api_key(
            store,
            role=role,
            tenant=tenant,
            name=name,
            holder=holder,
            created_by=f"cli:{os_user()}",
        )
    )
    if as_json:
        print(to_json({**key_document(record), "key": token}))
        return
    console.print(f"API key (shown once, store it now): [bold]{token}[/]", highlight=False)
    console.print(
        f"  id {record.key_id}  role {record.role}  tenant {record.tenant}  "
        f"name {escape(record.name)}  holder {escape(record.identity)}",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
    as_json: bool = typer.Option(False, "--json", help="Print the keys' records as JSON."),
) -> None:
    """List API keys, newest first, revoked ones included (never their digests)."""
    from proctor.cli._render import new_table, to_json, when
    from proctor.store import key_document

    found = with_store(lambda store: store.api_keys(tenant), create=False)
    if as_json:
        print(to_json({"keys": [key_document(record) for record in found]}))
        return
    table = new_table()
    for column in ("key id", "name", "role", "tenant", "created", "revoked"):
        table.add_column(column)
    for record in found:
        table.add_row(
            record.key_id,
            escape(record.name),
            record.role,
            record.tenant,
            when(record.created_at),
            "" if record.revoked_at is None else f"[red]{when(record.revoked_at)}[/]",
        )
    console.print(table if found else "no API keys: create one with proctor keys create")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (key_...).")) -> None:
    """Revoke an API key: it stops working at once (a running server: within 5 s)."""
    with needs_extra("proctor keys revoke"):
        from proctor.server._keys import revoke_api_key

    record = with_store(lambda store: revoke_api_key(store, key_id), create=False)
    console.print(
        f"revoked {record.key_id} ({escape(record.name)}, {record.role}, tenant {record.tenant})",
        highlight=False,
    )
