"""What every command shares: the global options, the console, the store, who is running.

Imports nothing heavy at module level: ``proctor --help`` loads this module too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from proctor.store import Store

T = TypeVar("T")


class _ConsoleOnFirstUse:
    """The shared console, made when first used: ``proctor --help`` never loads rich."""

    _made: Console | None = None

    @staticmethod
    def _console() -> Console:
        made = _ConsoleOnFirstUse._made
        if made is None:
            from rich.console import Console

            made = Console(emoji=False)
            if not made.is_terminal:
                # Piped or captured output is read by people and tools alike: don't wrap at 80.
                made = Console(width=160, emoji=False)
            _ConsoleOnFirstUse._made = made
        return made

    def __getattr__(self, name: str) -> object:
        return getattr(self._console(), name)


console = cast("Console", _ConsoleOnFirstUse())


def rich_console() -> Console:
    """The shared console itself, for rich objects (progress bars) that hold on to it."""
    return _ConsoleOnFirstUse._console()


def command_group(**settings: Any) -> typer.Typer:
    """A command group's Typer. Help is Click's plain text, not rich's panels: rendering
    it with rich loads rich, markdown and pygments (about 0.1 s of CPU) for every
    ``--help``."""
    return typer.Typer(rich_markup_mode=None, **settings)


@dataclass
class Options:
    db: str | None = None
    config: str | None = None
    debug: bool = False


options = Options()


def show_version(value: bool) -> None:
    """``proctor --version``: the installed distribution's version, from its metadata."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from proctor.errors import DISTRIBUTION

    try:
        found = installed(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree (PYTHONPATH=src), not installed
        from proctor import __version__ as found
    print(f"proctor {found}")
    raise typer.Exit()


def global_options(
    db: str | None = typer.Option(
        None,
        "--db",
        help="Store: a file, sqlite:///ABSOLUTE/PATH or a postgresql:// URL (default: "
        "$PROCTOR_DB, else $PROCTOR_HOME/proctor.db).",
    ),
    config: str | None = typer.Option(
        None, "--config", help="Project config (default: ./proctor.yaml or $PROCTOR_CONFIG)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=show_version,
        help="Print the installed Proctor's version and exit.",
    ),
) -> None:
    # The root command's callback (no docstring: it would become the command's help).
    options.db = db
    options.config = config
    options.debug = debug


def _use_db(value: str | None) -> str | None:
    """Typer callback of a command's own ``--db``: it names the store as the global one
    does, and wins over it (the command's options are read after the global ones)."""
    if value is not None:
        options.db = value
    return value


DB = typer.Option(
    None,
    "--db",
    callback=_use_db,
    help="Store, as the global --db (a file, sqlite:///ABSOLUTE/PATH or a postgresql:// URL).",
)
"""A command's own ``--db``, for the commands people tend to give it after their name."""


def with_store(work: Callable[[Store], Awaitable[T]], *, create: bool = True) -> T:
    """Run ``work`` on the store the global options name, closing it afterwards.

    Commands that only read (or act on what a store holds already) pass ``create=False``:
    a SQLite file that does not exist is then an error, not a new, empty store.
    """
    import asyncio

    from proctor.store import open_store

    async def main() -> T:
        store = open_store(options.db, create=create)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def os_user() -> str:
    """Who runs this command, as the run's log records it (``started_by``)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment nor the password database
        return "unknown"
