"""``proctor db status`` and ``proctor db upgrade``: the store's schema version."""

from __future__ import annotations

import typer

from proctor.cli._context import command_group

app = command_group(
    help="The store's database: its schema version, and migrating it.", no_args_is_help=True
)


@app.command("status")
def status(
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show the store (--db, $PROCTOR_DB, or the default file) and its schema version."""
    import asyncio

    from proctor.cli._context import console, options
    from proctor.errors import needs_extra
    from proctor.store._migrations import SCHEMA_VERSION
    from proctor.store._schema import schema_status

    with needs_extra("proctor db status"):  # of a PostgreSQL store, without psycopg
        found = asyncio.run(schema_status(options.db))
    if found.version == 0:
        standing, state = "none", f"none yet: `proctor db upgrade` creates version {SCHEMA_VERSION}"
    elif found.current:
        standing, state = "current", "current"
    elif found.version < SCHEMA_VERSION:
        standing = "behind"
        state = f"behind this Proctor's {SCHEMA_VERSION}: run `proctor db upgrade`"
    else:
        standing = "newer"
        state = f"newer than this Proctor knows ({SCHEMA_VERSION}): upgrade Proctor"
    if as_json:
        from proctor.cli._render import to_json

        document = {
            "backend": found.backend,
            "location": found.location,
            "schema_version": found.version,
            "supported_version": SCHEMA_VERSION,
            "state": standing,
        }
        print(to_json(document))
        return
    console.print(f"backend: {found.backend}", markup=False, highlight=False)
    console.print(f"store: {found.location}", markup=False, highlight=False)
    console.print(f"schema version: {found.version} ({state})", markup=False, highlight=False)


@app.command("upgrade")
def upgrade() -> None:
    """Apply the store's pending schema migrations (creating it if new); safe to rerun.

    PostgreSQL stores also migrate when first opened; run this at deploy time instead, as
    a role allowed to create tables, before starting servers and workers.
    """
    import asyncio

    from proctor.cli._context import console, options
    from proctor.errors import needs_extra
    from proctor.store._schema import upgrade_schema

    with needs_extra("proctor db upgrade"):
        before, after = asyncio.run(upgrade_schema(options.db))
    if before.version == after:
        message = f"{before.location}: schema version {after}, already current"
    else:
        message = f"{before.location}: schema version {before.version} -> {after}"
    console.print(message, markup=False, highlight=False)
