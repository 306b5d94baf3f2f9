"""Contract problems: what is wrong with a contract file, where, and how to fix it.

The loader collects structural problems (YAML, keys, types, contradictions, conditions);
``check_contract_file`` adds the ones that need the workflow's tool registry
(``_check_refs``).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from proctor._yaml import KeyPath, dotted
from proctor.contracts._model import Contract, ContractConflictError, Limits


@dataclass(frozen=True, kw_only=True)
class ContractProblem:
    """One thing wrong with a contract file, where it is, and how to fix it."""

    file: str
    line: int | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message.rstrip('.')}. Fix: {self.fix}"


@dataclass(frozen=True)
class Draft:
    """One workflow's contract data in native shape, before validation.

    ``renames`` maps native key paths back to where the user wrote them (article
    dialect), so problems point at the user's own keys and lines.
    """

    workflow: str | None
    data: dict[str, Any]
    renames: tuple[tuple[KeyPath, KeyPath], ...] = ()

    def source_path(self, loc: KeyPath) -> KeyPath:
        for native, written in sorted(self.renames, key=lambda r: -len(r[0])):
            if loc[: len(native)] == native:
                return written + loc[len(native) :]
        return loc


@dataclass
class ParsedFile:
    """Everything learnt from one contract file, valid or not."""

    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    drafts: list[Draft] = field(default_factory=list)
    contracts: dict[str, Contract] = field(default_factory=dict)
    problems: list[ContractProblem] = field(default_factory=list)

    def line(self, path: KeyPath) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        return nearest_line(self.lines, path)

    def add(self, path: KeyPath, message: str, fix: str) -> None:
        problem = ContractProblem(file=self.file, line=self.line(path), message=message, fix=fix)
        # Article-format workflows share their agent settings, so one bad setting would
        # otherwise be reported once per workflow.
        if problem not in self.problems:
            self.problems.append(problem)


def nearest_line(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path`` in ``lines``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def show(value: Any) -> str:
    """A short repr of a user's value for messages (at most 60 characters)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- pydantic errors, in the user's terms --------------------------------------------


def explain_validation_error(exc: ValidationError, draft: Draft) -> list[tuple[KeyPath, str, str]]:
    """(path as written, message, fix) for each problem pydantic found in ``draft``."""
    explained: list[tuple[KeyPath, str, str]] = []
    by_value: dict[KeyPath, list[Any]] = {}
    for error in exc.errors():
        loc: KeyPath = tuple(error["loc"])
        conflict = (error.get("ctx") or {}).get("error")
        if isinstance(conflict, ContractConflictError):
            explained.extend(
                (draft.source_path(c.loc), c.message, c.fix) for c in conflict.conflicts
            )
        elif error["type"] in ("value_error", "assertion_error"):
            # A validator's own words; they are written to say what to change.
            message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            # A validator may name its fix after "; fix: ".
            message, _, fix = message.partition("; fix: ")
            explained.append((draft.source_path(loc), message, fix or "correct this value"))
        elif error["type"] == "extra_forbidden":
            explained.append(_unknown(loc, draft))
        elif error["type"] == "missing":
            written = draft.source_path(loc)
            where = f" in {dotted(written[:-1])}" if written[:-1] else ""
            fix = f"add '{loc[-1]}:' with {_expected(_resolve(loc)[1])}"
            if loc == ("workflow",):
                fix = "add 'workflow: <name>' at the top of the file"
            explained.append((written, f"missing required key {loc[-1]!r}{where}", fix))
        else:
            # A union field fails once per member; report the value once.
            by_value.setdefault(_resolve(loc)[0], []).append(error)
    for loc, errors in by_value.items():
        written = draft.source_path(loc)
        value = errors[0]["input"]
        if errors[0]["type"] == "too_short":
            what = "action" if written[-1] == "actions" else "tool"
            message, fix = f"{dotted(written)} must not be empty", f"list at least one {what}"
        else:
            expected = _expected(_resolve(loc)[1])
            message = f"{dotted(written)} must be {expected}, got {show(value)}"
            limit = loc[1] if loc[:1] == ("limits",) and len(loc) == 2 else None
            fix = _fix(written, expected, value, limit=limit)
        explained.append((written, message, fix))
    return explained


def _unknown(loc: KeyPath, draft: Draft) -> tuple[KeyPath, str, str]:
    written = draft.source_path(loc)
    model = _resolve(loc[:-1])[1]
    allowed = list(model.model_fields) if _is_model(model) else []
    if not loc[:-1] and not draft.renames:
        allowed.append("agent")  # a misspelt article-format file lands here
    key = str(loc[-1])
    where = f"in {dotted(written[:-1])}" if written[:-1] else "at the top level"
    close = difflib.get_close_matches(key, allowed, n=1)
    fix = f"did you mean {close[0]!r}?" if close else "use one of: " + ", ".join(allowed)
    return written, f"unknown key {key!r} {where}", fix


def _fix(written: KeyPath, expected: str, value: Any, *, limit: str | int | None) -> str:
    key = str(written[-1]) if isinstance(written[-1], str) else dotted(written)
    if expected.startswith("a positive"):
        whole = "a whole number" if "integer" in expected else "a number"
        fix = f"use {whole} greater than 0"
        field = Limits.model_fields.get(str(limit)) if limit is not None else None
        if field is None:
            return fix
        default = field.default
        return fix + (
            ", or remove the key for no ceiling"
            if default is None
            else f", or remove the key for the default ceiling ({default:g})"
        )
    if expected == "a string" and isinstance(value, int | float) and not isinstance(value, bool):
        return f'quote it: {key}: "{value}"'
    if expected.startswith("a list") and isinstance(value, str):
        return f"write a list, e.g. {key}: [{value}]"
    return f"change {key} to {expected}"


_STOP = object()


def _resolve(loc: KeyPath) -> tuple[KeyPath, Any]:
    """The longest prefix of ``loc`` that is a real data path, and its declared type.

    Pydantic appends union-member tags to error locations; those are not data paths.
    """
    annotation: Any = Contract
    consumed: list[str | int] = []
    for part in loc:
        step = _step(annotation, part)
        if step is _STOP:
            break
        annotation = step
        consumed.append(part)
    return tuple(consumed), annotation


def _step(annotation: Any, part: str | int) -> Any:
    for option in _options(annotation):
        if isinstance(part, str) and _is_model(option) and part in option.model_fields:
            field = option.model_fields[part]
            # Pydantic keeps a plain field's constraints (PositiveInt) apart from its type.
            return (
                Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
            )
        if isinstance(part, int) and get_origin(option) is list:
            return get_args(option)[0]
        if isinstance(part, str) and get_origin(option) is dict:
            return get_args(option)[1]
    return _STOP


def _options(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [o for arg in get_args(annotation) for o in _options(arg)]
    if origin is Annotated:
        return _options(get_args(annotation)[0])
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _expected(annotation: Any) -> str:
    """Plain words for a field type: 'a positive integer', "one of true, false, 'handoff'"."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(annotation) if a is not type(None)]
        if all(a is bool or get_origin(a) is Literal for a in options):
            words = [w for a in options for w in _atoms(a)]
            return "one of " + ", ".join(words)
        return " or ".join(_expected(a) for a in options)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        if any(getattr(m, "gt", None) == 0 for m in metadata):
            return "a positive integer" if base is int else "a positive number"
        if any(getattr(m, "ge", None) == 0 for m in metadata):
            return "a number of 0 or more"
        return _expected(base)
    if origin is Literal:
        return "one of " + ", ".join(_atoms(annotation))
    if origin is list:
        item = get_args(annotation)[0]
        plural = "mappings" if _is_model(item) else {str: "strings"}.get(item, "values")
        return f"a list of {plural}"
    if _is_model(annotation):
        return "a mapping with keys " + ", ".join(annotation.model_fields)
    simple = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return simple.get(annotation, "a valid value")


def _atoms(annotation: Any) -> list[str]:
    if annotation is bool:
        return ["true", "false"]
    return [repr(value) for value in get_args(annotation)]
