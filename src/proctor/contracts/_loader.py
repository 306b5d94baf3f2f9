"""Load workflow contracts from YAML, reporting every problem with file, line and fix.

Two dialects load into the same ``Contract``:

* native: top-level keys are ``Contract`` fields (``workflow: ...``), one workflow a file;
* article: the seed article's ``agent:`` block, one workflow per entry of
  ``agent.required_steps_for_task``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from proctor._yaml import KeyPath, YamlProblem, parse_yaml, read_yaml_text
from proctor.contracts._candidate import attach_candidate
from proctor.contracts._cel import (
    CALL_ROOTS,
    FINAL_ROOTS,
    SCOPE_ROOTS,
    ConditionCompileError,
    compile_condition,
)
from proctor.contracts._check import (
    ContractProblem,
    Draft,
    ParsedFile,
    explain_validation_error,
    show,
)
from proctor.contracts._check_refs import registry_problems
from proctor.contracts._model import Contract, Limits
from proctor.errors import ConfigError

if TYPE_CHECKING:
    from proctor.tools import Registry

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

_ARTICLE_TOP = ("agent", "version", "description")
_ARTICLE_LIMITS = tuple(Limits.model_fields)
_ARTICLE_LISTS = {"allowed_tools": "allowed_tools", "disallowed_tools": "forbidden_tools"}
_ARTICLE_AGENT = (
    *_ARTICLE_LIMITS,
    *_ARTICLE_LISTS,
    "required_steps_for_task",
    "escalation",
)
_NO_WORKFLOW_FIX = (
    "add 'required_steps_for_task: {<workflow>: [<steps>]}' under agent:, "
    "or use the native format with a top-level 'workflow:' key"
)


def load_contracts(path: str | Path) -> dict[str, Contract]:
    """Every workflow contract defined in the YAML file at ``path``, by workflow name."""
    text = read_source(path)
    if isinstance(text, ContractProblem):
        raise ConfigError(str(text))
    contracts = _valid(parse_file(text, str(path)))
    for contract in contracts.values():
        contract._file = Path(path).resolve()
    return contracts


def parse_contracts(text: str, source: str = "<string>") -> dict[str, Contract]:
    """Like ``load_contracts``, from YAML text; ``source`` names it in messages."""
    return _valid(parse_file(text, source))


def load_contract(path: str | Path, workflow: str | None = None) -> Contract:
    """The contract for ``workflow`` in the file (or its only one if ``workflow`` is None)."""
    contracts = load_contracts(path)
    names = ", ".join(repr(name) for name in contracts)
    if workflow is None:
        if len(contracts) == 1:
            return next(iter(contracts.values()))
        raise ConfigError(
            f"{path}: defines {len(contracts)} workflows ({names}), so the one to load is "
            f"ambiguous. Fix: name the workflow, e.g. load_contract(path, "
            f"{next(iter(contracts))!r})"
        )
    if workflow not in contracts:
        close = difflib.get_close_matches(workflow, list(contracts), n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {names}"
        raise ConfigError(f"{path}: no workflow named {workflow!r} in this file. Fix: {fix}")
    return contracts[workflow]


def check_contract_file(
    path: str | Path,
    registry_for: Callable[[str], Registry | None],
    known_workflows: Sequence[str] = (),
) -> list[ContractProblem]:
    """Every problem in the contract file at ``path``, in line order; empty if it is valid.

    Beyond what loading checks, each workflow must be known (``registry_for`` returns its
    tool registry, or None if there is no such workflow) and every tool it names must be
    registered. ``known_workflows`` are suggested when a workflow is unknown.
    """
    text = read_source(path)
    if isinstance(text, ContractProblem):
        return [text]
    parsed = parse_file(text, str(path))
    registry_problems(parsed, registry_for, known_workflows)
    return sorted(parsed.problems, key=lambda problem: problem.line or 0)


def read_source(path: str | Path) -> str | ContractProblem:
    """The file's text, or a problem saying why it cannot be read."""
    text = read_yaml_text(path, kind="contract file")
    return text if isinstance(text, str) else _problem(str(path), text)


def parse_file(text: str, file: str, *, rollout: bool = True) -> ParsedFile:
    """Parse and validate contract YAML, collecting structural problems (no registry).

    With ``rollout`` a contract's rollout candidate is loaded too (a candidate's own
    file is parsed without, so a rollout can never refer back to itself).
    """
    parsed = ParsedFile(file=file)
    top = _compose(text, parsed)
    if top is _UNPARSEABLE:
        return parsed
    if not isinstance(top, dict):
        if top is None:
            parsed.add((), "the file is empty", "write a contract: 'workflow: <name>' or 'agent:'")
        else:
            parsed.add(
                (),
                f"a contract must be a mapping at the top level, got {show(top)}",
                "start the file with 'workflow: <name>' (native) or 'agent:' (article format)",
            )
        return parsed
    if "agent" in top:
        parsed.drafts = _article_drafts(top, parsed)
    else:
        name = top.get("workflow")
        parsed.drafts = [Draft(name if isinstance(name, str) else None, top)]
    for draft in parsed.drafts:
        _validate(draft, parsed, rollout=rollout)
    parsed.problems.sort(key=lambda problem: problem.line or 0)
    return parsed


def _valid(parsed: ParsedFile) -> dict[str, Contract]:
    if parsed.problems:
        raise ConfigError("\n".join(str(problem) for problem in parsed.problems))
    return parsed.contracts


def _parse_path(path: Path) -> ParsedFile:
    text = read_source(path)
    if isinstance(text, ContractProblem):
        return ParsedFile(file=str(path), problems=[text])
    return parse_file(text, str(path), rollout=False)


def _validate(draft: Draft, parsed: ParsedFile, *, rollout: bool) -> None:
    contract: Contract | None = None
    try:
        contract = Contract.model_validate(draft.data)
    except ValidationError as exc:
        for path, message, fix in explain_validation_error(exc, draft):
            parsed.add(path, message, fix)
    # Conditions are checked on the raw data so a broken one is reported even when
    # another part of the contract is invalid too.
    for loc, expr, roots in _expressions(draft.data):
        try:
            compile_condition(expr, roots)
        except ConditionCompileError as exc:
            contract = None
            parsed.add(draft.source_path(loc), exc.detail, exc.fix)
    if (
        contract is not None
        and rollout
        and not attach_candidate(contract, draft, parsed, _parse_path)
    ):
        contract = None
    if contract is not None:
        parsed.contracts[contract.workflow] = contract


def _expressions(data: dict[str, Any]) -> Iterator[tuple[KeyPath, str, tuple[str, ...]]]:
    """Every CEL expression of a contract's raw data: where, the text, what it may read."""
    for key, roots in (("approvals", CALL_ROOTS), ("rules", CALL_ROOTS), ("final", FINAL_ROOTS)):
        items = data.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            when = item.get("when") if isinstance(item, dict) else None
            if isinstance(when, str):
                yield (key, i, "when"), when, roots
    scopes = data.get("scopes")
    for name, expr in scopes.items() if isinstance(scopes, dict) else ():
        if isinstance(expr, str):
            yield ("scopes", name), expr, SCOPE_ROOTS


def _article_drafts(top: dict[str, Any], parsed: ParsedFile) -> list[Draft]:
    for key in top:
        if key == "workflow":
            parsed.add(
                (key,),
                "the file mixes the article format (agent:) with the native 'workflow:' key",
                "use one format: name workflows under agent.required_steps_for_task, "
                "or drop agent: and write native keys",
            )
        elif key not in _ARTICLE_TOP:
            _unknown_key(parsed, (key,), _ARTICLE_TOP)
    agent = top["agent"]
    if not isinstance(agent, dict):
        parsed.add(
            ("agent",),
            f"agent must be a mapping of settings, got {show(agent)}",
            "indent the settings under agent:, e.g. 'agent:\\n  max_tool_calls: 6'",
        )
        return []
    common: dict[str, Any] = {key: top[key] for key in ("version", "description") if key in top}
    limits: dict[str, Any] = {}
    renames: list[tuple[KeyPath, KeyPath]] = [(("limits",), ("agent",))]
    for key, value in agent.items():
        if key in _ARTICLE_LIMITS:
            limits[key] = value
        elif key in _ARTICLE_LISTS:
            common[_ARTICLE_LISTS[key]] = value
            renames.append(((_ARTICLE_LISTS[key],), ("agent", key)))
        elif key == "escalation":
            common["escalation"] = value
            renames.append((("escalation",), ("agent", "escalation")))
        elif key != "required_steps_for_task":
            _unknown_key(parsed, ("agent", key), _ARTICLE_AGENT, where="in agent")
    if limits:
        common["limits"] = limits
    tasks = agent.get("required_steps_for_task")
    if tasks is None or tasks == {}:
        where = ("agent", "required_steps_for_task") if tasks == {} else ("agent",)
        parsed.add(where, "this contract defines no workflow", _NO_WORKFLOW_FIX)
        return []
    if not isinstance(tasks, dict):
        parsed.add(
            ("agent", "required_steps_for_task"),
            "agent.required_steps_for_task must map each workflow name to its list of "
            f"required steps, got {show(tasks)}",
            _NO_WORKFLOW_FIX,
        )
        return []
    drafts = []
    for name, steps in tasks.items():
        written: KeyPath = ("agent", "required_steps_for_task", name)
        # 'task:' with nothing after it is YAML null: a workflow with no required steps.
        data = {"workflow": name, **common, "required_steps": [] if steps is None else steps}
        task_renames = (("workflow",), written), (("required_steps",), written)
        drafts.append(Draft(name, data, (*renames, *task_renames)))
    return drafts


def _unknown_key(
    parsed: ParsedFile, path: KeyPath, allowed: Iterable[str], where: str = "at the top level"
) -> None:
    key = str(path[-1])
    close = difflib.get_close_matches(key, list(allowed), n=1)
    fix = f"did you mean {close[0]!r}?" if close else "use one of: " + ", ".join(allowed)
    parsed.add(path, f"unknown key {key!r} {where}", fix)


_UNPARSEABLE: Any = object()


def _compose(text: str, parsed: ParsedFile) -> Any:
    """Plain Python value of the YAML document, recording each key's line in ``parsed``."""
    doc = parse_yaml(text, kind="contract")
    parsed.lines.update(doc.lines)
    parsed.problems += [_problem(parsed.file, problem) for problem in doc.problems]
    return doc.value if doc.parsed else _UNPARSEABLE


def _problem(file: str, problem: YamlProblem) -> ContractProblem:
    return ContractProblem(file=file, line=problem.line, message=problem.message, fix=problem.fix)
