"""Random arguments to ``proctor``: every answer is exit 0, 1 or 2 with a line a person can
act on, never "internal error" or a traceback.

Threat model: anyone who types, scripts or pastes a command (and the files it names): bad
input is a usage or config error. Commands that serve or wait forever (serve, gateway
serve, worker), the demo and the OTLP export are left out; so are ``module:attribute``
workflow references, which import code by design.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any

import pytest
import typer.main
from cli_harness import proctor_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.cli import app

LEFT_OUT = {"serve", "gateway serve", "worker", "demo", "otel export"}
VALUES = [
    "0", "-1", "1", "3", "18446744073709551616", "99999999999999999999999", "-9" * 30,
    "1e400", "nan", "inf", "-inf", "0.5", "", " ", "x", "run_0000000000000000",
    "ap_000000000000", "invoice_reconciliation", "refunds", "latest", "previous", "admin",
    "viewer", "json", "html", "[/bold]", "\udcff", "é" * 200, "a" * 5000, "\x00",
    "2024-13-45", "7d", "-7d", "postgresql://nobody@127.0.0.1:1/x", "postgresql://%zz",
    "sqlite:///", "redis://x", "running", "finished", "queued", "resolved", "--json", "-",
]  # fmt: skip
FILES = ["input.json", "deep.json", "latin1.json", "nan.json", "bomb.yaml", "deep.yaml",
         "missing.yaml", "folder"]  # fmt: skip
WORDS = st.sampled_from(VALUES + FILES)


def _commands() -> dict[str, Any]:
    """Every leaf command of ``proctor``, by its words (``eval diff``)."""
    found: dict[str, Any] = {}

    def walk(command: Any, words: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*words, name))
        elif " ".join(words) not in LEFT_OUT:
            found[" ".join(words)] = command

    walk(typer.main.get_command(app), ())
    return found


def _invocation(words: str, command: Any) -> st.SearchStrategy[list[str]]:
    """The command's words, a value for each argument, and some of its options."""
    params = [p for p in command.params if p.param_type_name == "option"]
    option = st.sampled_from(params).flatmap(
        lambda p: st.just([p.opts[0]]) if p.is_flag else WORDS.map(lambda v: [p.opts[0], v])
    )
    arguments = [WORDS for p in command.params if p.param_type_name == "argument"]
    return st.tuples(
        st.tuples(*arguments).map(list),
        st.lists(option, max_size=4) if params else st.just([]),
        st.lists(WORDS, max_size=1),  # now and then, one word too many
    ).map(lambda parts: [*words.split(), *parts[0], *chain(*parts[1]), *parts[2]])


COMMANDS = _commands()
invocations = st.sampled_from(sorted(COMMANDS)).flatmap(lambda w: _invocation(w, COMMANDS[w]))


def hostile_files(folder: Path) -> None:
    (folder / "input.json").write_text('{"invoice_text": "x"}')
    (folder / "deep.json").write_text("[" * 5000 + "]" * 5000)
    (folder / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    (folder / "nan.json").write_text('{"a": NaN, "b": 18446744073709551616}')
    (folder / "bomb.yaml").write_text("workflow: w\na: &a [1, 2]\nb: [*a, *a]\n")
    (folder / "deep.yaml").write_text("workflow: w\nx: " + "[" * 2000 + "]" * 2000 + "\n")
    (folder / "folder").mkdir()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Files the arguments name, in the working directory (outputs land there too)."""
    hostile_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(invocations)
def test_random_arguments_end_in_a_defined_answer(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    ran = proctor_main(*argv, capsys=capsys)

    assert ran.code in (0, 1, 2), str(ran)
    assert "internal error" not in ran.err, str(ran)
    assert "Traceback" not in ran.err + ran.out, str(ran)
