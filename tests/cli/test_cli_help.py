"""What ``proctor`` tells about itself: help for every command, argument and option, flags
shown as flags, ``--version``, tab completion, and docs/cli.md naming every ``--json``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import typer.main
from cli_harness import CLI_DOC, cli_env, proctor_main
from typer.testing import CliRunner

import proctor
from proctor.cli import app


def _commands() -> Iterator[tuple[str, Any]]:
    """``proctor`` itself, every group and every command, by their words (``eval diff``)."""

    def walk(command: Any, words: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
        yield " ".join(words), command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, (*words, name))

    return walk(typer.main.get_command(app), ())


COMMANDS = dict(_commands())


def test_the_walk_finds_every_group_and_command() -> None:
    assert {"", "runs", "contract", "contract versions", "keys list", "eval diff"} <= set(COMMANDS)
    assert len(COMMANDS) > 50


def test_every_command_argument_and_option_says_what_it_is_for() -> None:
    missing = []
    for words, command in COMMANDS.items():
        if words and not (command.help or "").strip():
            missing.append(f"proctor {words}")
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"proctor {words} {param.opts[0]}")
    assert not missing, f"no help text: {missing}"


@pytest.mark.parametrize("words", sorted(COMMANDS))
def test_help_shows_flags_as_flags(words: str) -> None:
    shown = CliRunner().invoke(app, [*words.split(), "--help"])

    assert shown.exit_code == 0, shown.output
    # A bool argument, or an option of a list of bools, shows `<bool>` (`<list[bool]>`) and
    # takes a value typed `true` or `false`: a yes-or-no option is a flag, `--x/--no-x`.
    assert "bool>" not in shown.output


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    ran = proctor_main("--version", capsys=capsys)

    assert ran.code == 0, str(ran)
    assert ran.out == f"proctor {metadata.version('proctor-runtime')}\n"
    assert metadata.version("proctor-runtime") == proctor.__version__
    # Eager: it answers before a command runs, and before its arguments are checked.
    assert proctor_main("--version", "runs", "--limit", "0", capsys=capsys).out == ran.out


AS_IN_SHELL = """
import sys
import shellingham
shellingham.detect_shell = lambda: ({shell!r}, "/bin/" + {shell!r})  # the shell we are in
sys.argv = ["proctor", *{args!r}]
from proctor.cli import main
main()
"""


def completing(args: list[str], *, shell: str = "sh", **env: str) -> str:
    """What ``proctor ARGS`` prints in ``shell``, run as the ``proctor`` console script is
    (Click names the program after it, and completion after the program)."""
    ran = subprocess.run(
        [sys.executable, "-c", AS_IN_SHELL.format(shell=shell, args=args)],
        env={**cli_env(Path("unused")), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return ran.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shell", "script"),
    [
        ("bash", "complete -o default -F _proctor_completion proctor"),
        ("zsh", "#compdef proctor"),
        ("fish", "complete --command proctor"),
    ],
)
def test_show_completion_prints_the_current_shells_script(shell: str, script: str) -> None:
    shown = completing(["--show-completion"], shell=shell)

    assert script in shown
    assert f"_PROCTOR_COMPLETE=complete_{shell}" in shown


@pytest.mark.slow
def test_a_named_shells_script_and_completions() -> None:
    # As docs/cli.md says, for a script written where the shell is sh (a Dockerfile).
    bash = completing([], _PROCTOR_COMPLETE="source_bash")
    assert "complete -o default -F _proctor_completion proctor" in bash
    assert "complete --command proctor" in completing([], _PROCTOR_COMPLETE="source_fish")

    def complete(line: str) -> list[str]:
        words = line.split()
        return completing(
            [],
            _PROCTOR_COMPLETE="complete_bash",
            COMP_WORDS=line,
            COMP_CWORD=str(len(words) - (0 if line.endswith(" ") else 1)),
        ).split()

    assert complete("proctor con") == ["contract"]
    assert complete("proctor contract ") == ["check", "test", "diff", "versions"]
    assert {"--state", "--limit", "--json"} <= set(complete("proctor queue --"))


def test_the_cli_doc_names_every_command_that_prints_json() -> None:
    doc = " ".join(CLI_DOC.read_text(encoding="utf-8").split())
    with_json = [
        words
        for words, command in COMMANDS.items()
        if any("--json" in param.opts for param in command.params)
    ]
    assert len(with_json) >= 20
    missing = [words for words in with_json if f"`proctor {words}" not in doc]
    assert not missing, f"add these to docs/cli.md: {missing}"
