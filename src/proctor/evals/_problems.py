"""Problems in suite and case files: what is wrong, at which line, and how to fix it.

YAML is composed node by node (``yaml.safe_load`` forgets positions) so that every key
and list item keeps its line, the way the contract loader reports problems; a pydantic
validation error is then mapped back to the line of the key it is about.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from proctor.contracts import KeyPath, dotted, nearest_line, show
from proctor.errors import ConfigError

# libyaml's parser when PyYAML has it (about five times faster on large cases).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


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


def compose(text: str, source: SourceFile) -> Any:
    """The YAML document as plain Python values, recording each key's line in ``source``.

    A YAML syntax error is added as a problem (with its line) and ``None`` is returned.
    """
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        source.lines[()] = root.start_mark.line + 1
        return _build(loader, root, (), source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        source.problems.append(
            CaseProblem(
                file=source.file,
                line=None if mark is None else mark.line + 1,
                message=f"invalid YAML: {detail or exc}",
                fix=_yaml_fix(detail),
            )
        )
    except yaml.YAMLError as exc:
        source.problems.append(
            CaseProblem(
                file=source.file, line=None, message=f"invalid YAML: {exc}", fix=_yaml_fix("")
            )
        )
    except RecursionError:
        source.add((), "a YAML alias refers to itself", "remove the recursive alias")
    finally:
        loader.dispose()
    return None


def _build(loader: Any, node: yaml.Node, path: KeyPath, source: SourceFile) -> Any:
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
        loader.flatten_mapping(node)  # '<<' merge keys, as safe_load applies them
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            # Non-string keys (YAML 1.1 reads 'on:' as True) are kept as written.
            if not isinstance(key, str):
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else str(key)
            if key in mapping:
                source.lines[(*path, key)] = key_node.start_mark.line + 1
                source.add(
                    (*path, key),
                    f"duplicate key {key!r}" + (f" in {dotted(path)}" if path else ""),
                    "keep one of them (YAML would silently use the last)",
                )
            source.lines[(*path, key)] = key_node.start_mark.line + 1
            mapping[key] = _build(loader, value_node, (*path, key), source)
        return mapping
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
        items = []
        for i, item in enumerate(node.value):
            source.lines.setdefault((*path, i), item.start_mark.line + 1)
            items.append(_build(loader, item, (*path, i), source))
        return items
    return loader.construct_object(node, deep=True)


def _yaml_fix(detail: str) -> str:
    if "\\t" in detail:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in detail:
        return "quote values that contain ': ', and check the indentation of this line"
    if "could not determine a constructor" in detail:
        return "remove the '!tag': case files use plain YAML values"
    if "expected a single document" in detail:
        return "keep one YAML document per case file (remove the extra '---')"
    return "check the indentation and quoting on this line and the one before it"


def read_yaml(path: str, text: str | None = None) -> tuple[Any, SourceFile]:
    """Read and compose a YAML file; unreadable files become a problem, never a traceback."""
    source = SourceFile(file=path)
    if text is None:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            source.add((), "file not found", "check the path")
            return None, source
        except UnicodeDecodeError as exc:
            source.add((), f"not UTF-8 text ({exc.reason} at byte {exc.start})", "save as UTF-8")
            return None, source
        except OSError as exc:
            source.add((), f"cannot read the file: {exc.strerror or exc}", "check the path")
            return None, source
    return compose(text, source), source
