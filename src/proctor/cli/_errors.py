"""Running the command: one line per error; exit 2 on usage errors; tracebacks need --debug."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from proctor.cli._context import options
from proctor.errors import MissingExtraError, ProctorError, UsageError, extra_of


def run(app: typer.Typer) -> NoReturn:
    """Run ``app`` on ``sys.argv`` and exit with its code, reporting any error on one line."""
    # Bytes that are not UTF-8 arrive as lone surrogates, which no store, file or terminal
    # takes: refuse them here rather than deep inside whichever command meets them first.
    for arg in sys.argv[1:]:
        if not _is_utf8(arg):
            report(UsageError(f"argument {arg!r} is not UTF-8 text; pass arguments as UTF-8"))
    try:
        # Without standalone mode, typer returns a command's exit code instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        code = exc.code if code is None and isinstance(exc, SystemExit) else code
        sys.exit(code if isinstance(code, int) else 0)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        if options.debug:
            raise
        report(exc)


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


_GLOBAL_OPTIONS = {"--db": "--db STORE", "--config": "--config FILE", "--debug": "--debug"}
"""The root command's options: most commands take them only before their name."""


def _global_option_fix(exc: typer.TyperException) -> str | None:
    """Where a global option goes, when a command was given one it does not take."""
    name = getattr(exc, "option_name", None)  # set by "No such option"
    if name not in _GLOBAL_OPTIONS:
        return None
    names: list[str] = []
    ctx = getattr(exc, "ctx", None)
    while ctx is not None and ctx.parent is not None:  # the command's words, not the root's
        names.insert(0, str(ctx.info_name))
        ctx = ctx.parent
    example = " ".join(["proctor", _GLOBAL_OPTIONS[name], *(names or ["COMMAND"])])
    return f". Fix: give {name} before the command, as in `{example} ...`"


def report(exc: BaseException) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit: 2 for usage errors, else 1."""
    # One line per error, whatever the terminal width; the message is plain text, so a
    # bracket in it (a user's argument, a file's content) is never read as markup.
    err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)
    if isinstance(exc, ImportError) and not isinstance(exc, MissingExtraError):
        extra = extra_of(exc)  # an optional dependency no command expected to need
        exc = exc if extra is None else MissingExtraError("this command", extra)
    if isinstance(exc, typer.TyperException):  # bad options or arguments
        label = "usage error" if exc.exit_code == 2 else "error"
        fix = _global_option_fix(exc) or " (see --help)"
        err.print(f"{label}: {exc.format_message()}{fix}", highlight=False)
        sys.exit(exc.exit_code)
    if isinstance(exc, UsageError):
        err.print(f"usage error: {exc}", highlight=False)
        sys.exit(2)
    if isinstance(exc, ProctorError):
        err.print(f"error: {exc}", highlight=False)
        sys.exit(1)
    if isinstance(exc, OSError):  # the system refused a path or a file the user named
        name = f": {exc.filename}" if exc.filename else ""
        err.print(f"error: {exc.strerror or exc}{name}", highlight=False)
        sys.exit(1)
    err.print(
        f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
        highlight=False,
    )
    sys.exit(1)
