"""Problems in suite and case files: what is wrong, at which line, and how to fix it.

YAML is read by ``proctor._yaml`` (the contract loader's reader too), so every key and
list item keeps its line; a pydantic validation error is then mapped back to the line of
the key it is about.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from proctor._yaml import YamlCache, YamlProblem, parse_yaml, read_yaml_text
from proctor.contracts import KeyPath, dotted, nearest_line, show
from proctor.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class CaseProblem:
    """One thing wrong with a suite or case file, where, and how to fix it."""

    file: str
    line: int | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message.rstrip('.')}. Fix: {self.fix}"


class CaseFileError(ConfigError):
    """A suite or case file is invalid; one line per problem, each with file:line and fix."""

    def __init__(self, problems: list[CaseProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass
class SourceFile:
    """A YAML file being read: its value, the line of each key, the problems found."""

    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[CaseProblem] = field(default_factory=list)

    def line(self, path: KeyPath) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        return nearest_line(self.lines, path)

    def add(self, path: KeyPath, message: str, fix: str) -> None:
        self.problems.append(
            CaseProblem(file=self.file, line=self.line(path), message=message, fix=fix)
        )

    def raise_if_any(self) -> None:
        if self.problems:
            raise CaseFileError(sorted(self.problems, key=lambda p: p.line or 0))

    def explain(self, exc: ValidationError, model: type[BaseModel], root: KeyPath = ()) -> None:
        """Add one problem per pydantic error of ``model``, at the line of its key."""
        for error in exc.errors(include_url=False):
            loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
            # A validator's error on a union member names the member ('str', 'CallSpec'):
            # keep only the parts that are keys or list indexes of the document.
            loc = _document_path(loc)
            self.add((*root, *loc), *_message(error, (*root, *loc), model, loc))


def _message(
    error: Any, loc: KeyPath, model: type[BaseModel], relative: KeyPath
) -> tuple[str, str]:
    kind = error["type"]
    where = dotted(loc) or "the file"
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(model, relative[:-1])
        allowed = list(owner.model_fields) if owner is not None else []
        return f"unknown key {key!r}", _choose(key, allowed) if allowed else "remove it"
    if kind == "missing":
        return f"{where} is required", f"add '{loc[-1]}:'"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        got = error.get("input")
        options = [part.strip(" '") for part in expected.replace(" or ", ",").split(",")]
        close = difflib.get_close_matches(str(got), options, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {expected}"
        return f"{where}: {show(got)} is not allowed", fix
    return f"{where}: {error['msg']} (got {show(error.get('input'))})", "correct the value"


def _model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` below ``model``."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue  # a list item: the model found inside list[...] is the item's
        found = _model_in(current)
        info = None if found is None else found.model_fields.get(part)
        if info is None:
            return None
        current = info.annotation
    return _model_in(current)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model in ``annotation`` (``X``, ``X | None``, ``list[X] | X``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_TAG = re.compile(r"[A-Z]\w*Spec|str|int|float|bool|list|dict|.*\[.*")


def _document_path(loc: KeyPath) -> KeyPath:
    """``loc`` without the union-member tags pydantic inserts (``'list[str]'``, ``'CallSpec'``)."""
    return tuple(part for part in loc if not (isinstance(part, str) and _TAG.fullmatch(part)))


def _choose(key: str, allowed: Iterable[str]) -> str:
    options = list(allowed)
    close = difflib.get_close_matches(key, options, n=1)
    return f"did you mean {close[0]!r}?" if close else "use one of: " + ", ".join(options)


def unknown_keys(source: SourceFile, path: KeyPath, value: Any, allowed: Iterable[str]) -> None:
    """Report each key of mapping ``value`` (at ``path``) that is not in ``allowed``."""
    options = list(allowed)
    if isinstance(value, dict):
        for key in value:
            if key not in options:
                source.add((*path, key), f"unknown key {key!r}", _choose(str(key), options))


def compose(text: str, source: SourceFile, cache: YamlCache | None = None) -> Any:
    """The YAML document as plain Python values, recording each key's line in ``source``.

    A YAML problem is added (with its line) and ``None`` is returned if the document is
    unreadable (syntax, anchors and aliases, nesting).
    """
    doc = (
        parse_yaml(text, kind="case file") if cache is None else cache.parse(text, kind="case file")
    )
    source.lines.update(doc.lines)
    source.problems += [_problem(source.file, problem) for problem in doc.problems]
    return doc.value


def _problem(file: str, problem: YamlProblem) -> CaseProblem:
    return CaseProblem(file=file, line=problem.line, message=problem.message, fix=problem.fix)


def read_yaml(
    path: str, text: str | None = None, cache: YamlCache | None = None
) -> tuple[Any, SourceFile]:
    """Read and compose a YAML file; unreadable files become a problem, never a traceback."""
    source = SourceFile(file=path)
    if text is None:
        read = read_yaml_text(path, kind="case file")
        if isinstance(read, YamlProblem):
            source.problems.append(_problem(path, read))
            return None, source
        text = read
    return compose(text, source, cache), source
