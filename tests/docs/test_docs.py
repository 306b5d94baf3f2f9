"""The docs are part of the product.

The README's tour runs as written; every ``proctor`` command the README shows exists
with the options it uses; the YAML and Python it quotes are the files it links to; and
every contract key, rule id and CEL variable is documented in docs/contracts.md.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from proctor.cli import app
from proctor.contracts import Contract, Limits, parse_contracts
from proctor.contracts._cel import ROOTS
from proctor.contracts._loader import _ARTICLE_AGENT, _ARTICLE_TOP
from proctor.policy._engine import _cel_state
from proctor.store import EscalationMode, EscalationTrigger, RunState

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRACTS_DOC = (DOCS / "contracts.md").read_text(encoding="utf-8")

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RUN_ID = re.compile(r"\brun_[0-9a-f]{16}\b")
_APPROVAL_ID = re.compile(r"\bap_[0-9a-f]{12}\b")
# A command line: optional VAR=value assignments, then the proctor executable.
_PROCTOR_LINE = re.compile(r"^(?:\w+=\S+\s+)*(?:\.venv/bin/)?proctor\s")


def _fenced(text: str, language: str | None = None) -> list[str]:
    """Bodies of the fenced code blocks in ``text`` (of one language, if given)."""
    return [body for lang, body in _FENCE.findall(text) if language in (None, lang)]


def _without_fences(text: str) -> str:
    return _FENCE.sub("", text)


# --- the tour -------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A ``$ command`` line of a console block, and the output the README shows for it."""

    line: str
    shown: str


def _tour_commands() -> list[Command]:
    start, end = README.index("<!-- tour:start -->"), README.index("<!-- tour:end -->")
    commands = []
    for block in _fenced(README[start:end], "console"):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            line, _, shown = chunk.partition("\n")
            commands.append(Command(line.strip(), shown))
    return commands


@dataclass(frozen=True)
class Step:
    """What one tour command must do. ``{run}`` and ``{approval}`` stand for the ids."""

    command: str
    exit_code: int = 0
    shows: tuple[str, ...] = ()


# The tour as the README tells it, in order. The README's commands must start with these
# (with the README's own ids in place of {run} and {approval}): change both together.
TOUR = (
    Step("source .venv/bin/activate"),
    Step(
        "export PYTHONPATH=docs/tour PROCTOR_HOME=$(mktemp -d) PROCTOR_WORKFLOWS=refunds:workflow"
    ),
    Step(
        "proctor contract check docs/tour/refunds.yaml --workflow refunds:workflow",
        shows=("docs/tour/refunds.yaml is a valid contract",),
    ),
    Step(
        "proctor run refunds:workflow --input docs/tour/refund_request.json",
        exit_code=10,  # awaiting approval
        shows=("run {run}: awaiting_approval", "waiting for approval {approval}"),
    ),
    Step("proctor runs", shows=("{run}", "awaiting_approval", "refunds")),
    Step(
        "proctor trace {run}",
        shows=(
            "policy allow  [default.allow]",
            "policy require_approval  [approval.large_refund]",
            "approval requested {approval}",
        ),
    ),
    Step("proctor approvals", shows=("{approval}", "billing.refund", "pending")),
    Step(
        "proctor approve {approval} --as you",
        shows=("approved by you", "run {run}: resolved"),
    ),
    Step("proctor audit verify", shows=("✓ 1 chain(s) verified, 18 events",)),
    Step(
        "proctor audit export {run} --format html",
        shows=("receipt.html (", "{run} resolved", "✓ chain verified, head"),
    ),
    Step("sqlite3 "),
    Step(
        "proctor audit verify",
        exit_code=1,
        shows=("✗ {run}: event 11 (approval_decided) was edited", "1 of 1 chain(s) broken"),
    ),
)


def _environment(home: Path) -> dict[str, str]:
    """The shell the tour assumes, with ``.venv/bin`` first on PATH (its ``source`` step)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in ("FORCE_COLOR", "PYTHONPATH", "PROCTOR_DB", "PROCTOR_HOME", "PROCTOR_WORKFLOWS")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


def _export(line: str, env: dict[str, str], home: Path) -> None:
    """Apply an ``export A=b C=$(mktemp -d)`` line; the fresh directory is ``home``."""
    for name, value in re.findall(r"(\w+)=(\$\([^)]*\)|\S+)", line.removeprefix("export ")):
        if value.startswith("$("):
            assert name == "PROCTOR_HOME", f"unexpected command substitution in {line!r}"
            env[name] = str(home)
        else:
            env[name] = value


def _sqlite_in_process(line: str, env: dict[str, str]) -> tuple[int, str]:
    """The tour's ``sqlite3 DB SQL`` line, for machines without the sqlite3 shell."""
    program, database, sql = shlex.split(line.replace("$PROCTOR_HOME", env["PROCTOR_HOME"]))
    assert program == "sqlite3"
    with closing(sqlite3.connect(database)) as db:
        db.execute(sql)
        db.commit()
    return 0, ""


def _run(line: str, env: dict[str, str]) -> tuple[int, str]:
    if line.startswith("sqlite3 ") and shutil.which("sqlite3", path=env["PATH"]) is None:
        return _sqlite_in_process(line, env)
    done = subprocess.run(
        line,
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _ids(text: str) -> dict[str, str]:
    run, approval = _RUN_ID.search(text), _APPROVAL_ID.search(text)
    assert run is not None, f"no run id in:\n{text}"
    assert approval is not None, f"no approval id in:\n{text}"
    return {"run": run.group(), "approval": approval.group()}


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    commands = _tour_commands()
    readme_ids = _ids(commands[3].shown)  # what `proctor run` printed for the README
    assert len(commands) == len(TOUR), [c.line for c in commands]
    for step, command in zip(TOUR, commands, strict=True):
        assert command.line.startswith(step.command.format(**readme_ids)), (
            f"the README's tour changed: {command.line!r}; update TOUR in this test"
        )

    home = tmp_path / "tour-home"
    env = _environment(home)
    ids: dict[str, str] = {}
    for step, command in zip(TOUR, commands, strict=True):
        if command.line.startswith("source "):
            continue  # _environment put .venv/bin first on PATH
        if command.line.startswith("export "):
            _export(command.line, env, home)
            continue
        line = command.line
        if ids:
            line = line.replace(readme_ids["run"], ids["run"])
            line = line.replace(readme_ids["approval"], ids["approval"])
        code, output = _run(line, env)
        assert code == step.exit_code, f"$ {line}\nexited {code}:\n{output}"
        if not ids and _RUN_ID.search(output):
            ids = _ids(output)
        for text in step.shows:
            assert text.format(**ids) in output, f"$ {line}\ndid not print {text!r}:\n{output}"
            assert text.format(**readme_ids) in command.shown, (
                f"the README's sample output for {command.line!r} lacks {text!r}"
            )


# --- commands and files the README names ----------------------------------------------


def _proctor_mentions() -> list[str]:
    """Every proctor command line in the README: code-block lines and inline code."""
    lines = [line for body in _fenced(README) for line in body.splitlines()]
    inline = re.findall(r"`([^`]+)`", _without_fences(README))
    found = []
    for text in [*lines, *inline]:
        text = " ".join(text.split()).removeprefix("$ ")
        if _PROCTOR_LINE.match(text):
            found.append(text)
    return found


def test_every_proctor_command_in_the_readme_exists() -> None:
    mentions = _proctor_mentions()
    assert len(mentions) >= 15, mentions
    runner = CliRunner()
    for mention in mentions:
        words = shlex.split(mention, comments=True)
        while "=" in words[0]:  # VAR=value before the command
            words.pop(0)
        # --help after the whole line: exit 0 only if every subcommand and option exists.
        result = runner.invoke(app, [*words[1:], "--help"])
        assert result.exit_code == 0, f"`{mention}` is not a valid command:\n{result.output}"


def test_the_article_contract_checks_as_the_readme_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    command = "proctor contract check docs/article-contract.yaml"
    (shown,) = [
        chunk.partition("\n")[2]
        for block in _fenced(README, "console")
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)
        if chunk.startswith(command)
    ]
    monkeypatch.chdir(ROOT)

    result = CliRunner().invoke(app, shlex.split(command)[1:])

    assert result.exit_code == 0, result.output
    expected = "✓ docs/article-contract.yaml is a valid contract"
    assert result.output.strip() == shown.strip() == expected


def _strip_leading_comments(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def test_the_readme_quotes_the_contract_files_verbatim() -> None:
    files = {
        path: _strip_leading_comments(path.read_text(encoding="utf-8"))
        for path in (DOCS / "tour" / "refunds.yaml", DOCS / "article-contract.yaml")
    }
    blocks = _fenced(README, "yaml")
    assert sorted(blocks) == sorted(files.values())
    for block in blocks:
        assert parse_contracts(block)


def test_the_readme_quotes_the_tour_code_verbatim() -> None:
    sources = "".join(path.read_text(encoding="utf-8") for path in (DOCS / "tour").glob("*.py"))
    for block in _fenced(README, "python"):
        for line in block.splitlines():
            if line.strip() and "..." not in line:
                assert line in sources, f"README line not in docs/tour/*.py: {line!r}"


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize(
    "doc",
    [
        "README.md",
        "docs/contracts.md",
        "docs/architecture.md",
        "docs/telemetry.md",
        "docs/audit.md",
        "docs/integrations.md",
        "docs/workflows.md",
        "docs/api.md",
        "docs/cli.md",
        "docs/notifications.md",
        "docs/deploy.md",
        "docs/server.md",
        "docs/scale-out.md",
        "docs/gateway.md",
        "docs/benchmarks.md",
        "docs/evals.md",
        "docs/rollout.md",
        "docs/reliability.md",
    ],
)
def test_links_point_at_files_and_headings_that_exist(doc: str) -> None:
    path = ROOT / doc
    text = _without_fences(path.read_text(encoding="utf-8"))
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        linked = (path.parent / target) if target else path
        assert linked.exists(), f"{doc} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
            assert anchor in {_anchor(h) for h in headings}, f"{doc}: no heading #{anchor}"


# --- the contract reference -----------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in get_args(annotation):
        yield from _models_in(argument)


def _contract_models() -> dict[str, list[str]]:
    """Field names of ``Contract`` and of every model nested in it, by model name."""
    found: dict[str, list[str]] = {}
    todo: list[type[BaseModel]] = [Contract]
    while todo:
        model = todo.pop()
        if model.__name__ in found:
            continue
        found[model.__name__] = list(model.model_fields)
        for field in model.model_fields.values():
            todo.extend(_models_in(field.annotation))
    return found


def test_every_contract_key_is_documented() -> None:
    models = _contract_models()
    assert {"Contract", "Limits", "OrderingRule", "ApprovalRule", "Escalation"} <= set(models)
    undocumented = [
        f"{model}.{key}"
        for model, keys in models.items()
        for key in [model, *keys]
        if f"`{key}`" not in CONTRACTS_DOC
    ]
    assert not undocumented, f"add these to docs/contracts.md: {undocumented}"


def test_the_default_ceilings_are_documented_with_their_values() -> None:
    for name, field in Limits.model_fields.items():
        if name == "on_limit":
            continue
        row = re.search(rf"^\| `{name}` \| [^|]+ \| ([^|]+) \|", CONTRACTS_DOC, re.MULTILINE)
        assert row is not None, f"docs/contracts.md: no row for limits.{name}"
        default = field.default
        written = "null (none)" if default is None else f"{int(default):,}"
        assert row.group(1) == written, f"limits.{name} defaults to {default}: document it"


def test_every_article_key_and_escalation_value_is_documented() -> None:
    keys = [f"`{key}`" for key in _ARTICLE_TOP] + [f"`agent.{key}`" for key in _ARTICLE_AGENT]
    keys += [f"`{value}`" for value in get_args(EscalationMode)]
    triggers = [f"`on_{trigger}`" for trigger in get_args(EscalationTrigger)]
    missing = [key for key in keys + triggers if key not in CONTRACTS_DOC]
    assert not missing, f"add these to docs/contracts.md: {missing}"


def test_cel_variables_and_state_fields_are_documented() -> None:
    names = [f"`{root}`" for root in ROOTS]
    names += [f"`state.{field}`" for field in _cel_state(RunState(), 0.0)]
    missing = [name for name in names if name not in CONTRACTS_DOC]
    assert not missing, f"add these to docs/contracts.md: {missing}"


# Rule ids built at run time, as they appear in the source, and as the reference names them.
_RULE_TEMPLATES = {
    'f"limit.{name}"': [f"`limit.{name}`" for name in Limits.model_fields if name != "on_limit"],
    'f"ordering.{self.id or self.tool}"': ["`ordering.<tool>`", "`ordering.<id>`"],
    'f"rule.{self.id}"': ["`rule.<id>`"],
    'f"rule.{self.kind}.{first}.{index}"': ["`rule.deny.<tool>.<n>`"],
    'f"final.{self.id or index}"': ["`final.<id>`", "`final.<n>`"],
    'f"approval.{self.id or self.tool}"': ["`approval.<id>`", "`approval.<tool>`"],
}


def test_every_rule_id_is_documented() -> None:
    source = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "src").rglob("*.py"))
    templates = set(re.findall(r'(?:rule=|return )(f"[a-z_]+\.\{[^"]*\}")', source))
    assert templates <= set(_RULE_TEMPLATES), (
        f"new rule ids {templates - set(_RULE_TEMPLATES)}: document them and add them here"
    )
    names = [f"`{rule}`" for rule in re.findall(r'rule="([a-z_]+\.[a-z_.]+)"', source)]
    names += [name for documented in _RULE_TEMPLATES.values() for name in documented]
    assert len(names) > 10
    missing = [name for name in names if name not in CONTRACTS_DOC]
    assert not missing, f"add these to docs/contracts.md: {missing}"
