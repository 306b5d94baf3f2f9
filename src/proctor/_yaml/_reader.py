"""The one YAML reader for files people write: contracts, eval cases and suites, ``proctor.yaml``.

The document is built from the parser's events, without PyYAML's composer, so that

* anchors and aliases are refused: an alias makes a value appear twice without being
  written twice, and a 500-byte "billion laughs" file expands into gigabytes;
* nesting is bounded (``MAX_YAML_DEPTH``) and nothing recurses, so deep input is refused
  rather than ending in a RecursionError;
* numbers and text JSON cannot hold (NaN, integers beyond 64 bits, lone surrogates) are
  refused at their line, since every loaded value may be hashed as canonical JSON;
* every key and list item keeps its line, for messages that say where to look.

Each problem is a ``YamlProblem``; the caller turns it into its own kind of error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from proctor.errors import ConfigError
from proctor.store import MAX_JSON_DEPTH, json_value_problem

KeyPath = tuple[str | int, ...]
"""Where a value sits in a YAML document: mapping keys and list indexes."""

MAX_YAML_DEPTH = MAX_JSON_DEPTH + 32
"""Deepest nesting of mappings and lists a file may have: a stored value's own limit, plus
room for the file's structure around it (an eval case holds recorded values)."""

# libyaml's parser when PyYAML has it (about five times faster on large eval cases).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_SCALAR = yaml.ScalarEvent
_NO_ALIAS_FIX = (
    "write the value out in full where it is used (a few aliases can expand a small file "
    "into gigabytes)"
)


@dataclass(frozen=True, kw_only=True)
class YamlProblem:
    """Something wrong in a YAML file: its line (if known), what, and how to fix it."""

    line: int | None
    message: str
    fix: str


@dataclass
class YamlDocument:
    """A parsed file: its value (None if ``parsed`` is false), key lines, problems."""

    value: Any = None
    parsed: bool = True
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)


class _Refused(Exception):
    """Stops reading: the rest of the document cannot be trusted or is not needed."""

    def __init__(self, problem: YamlProblem) -> None:
        self.problem = problem


@dataclass
class _Open:
    """A mapping or list being built, with where it sits."""

    path: KeyPath
    value: dict[str, Any] | list[Any]
    key: str | None = None  # a mapping's key awaiting its value
    merging: bool = False  # the key awaiting its value is '<<'
    key_line: int = 0
    written: set[str] = field(default_factory=set)
    merges: list[tuple[Any, int]] = field(default_factory=list)


def parse_yaml(text: str, *, kind: str = "YAML file") -> YamlDocument:
    """The single YAML document in ``text`` as plain values; ``kind`` names it in fixes."""
    doc = YamlDocument()
    loader: Any = None
    try:
        loader = _Loader(text)  # PyYAML's own reader checks the characters here
        _read(loader, doc, kind)
    except _Refused as stop:
        doc.problems.append(stop.problem)
    except UnicodeEncodeError as exc:  # libyaml reads UTF-8, which has no lone surrogates
        line = text.count("\n", 0, exc.start) + 1
        message = "the text holds a lone surrogate (not valid Unicode)"
        doc.problems.append(YamlProblem(line=line, message=message, fix="write valid Unicode"))
    except yaml.reader.ReaderError as exc:  # a control character, found before parsing
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: character {exc.character:#06x} is not allowed ({exc.reason})"
        fix = "remove it, or write it as an escape in a double-quoted string ('\\x1f')"
        doc.problems.append(YamlProblem(line=line, message=message, fix=fix))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        lines = text.splitlines()
        written = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
        doc.problems.append(
            YamlProblem(
                line=None if mark is None else mark.line + 1,
                message=f"invalid YAML: {detail or exc}",
                fix=_fix(detail, written, kind),
            )
        )
    except yaml.YAMLError as exc:
        doc.problems.append(
            YamlProblem(line=None, message=f"invalid YAML: {exc}", fix=_fix("", "", kind))
        )
    else:
        return doc
    finally:
        if loader is not None:
            loader.dispose()
    doc.value, doc.parsed = None, False
    return doc


def read_yaml_text(path: str | Path, *, kind: str) -> str | YamlProblem:
    """The file's text, or the problem that stops it being read (``kind`` names the file)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        fix = f"check the path (relative paths start at {Path.cwd()})"
        return YamlProblem(line=None, message=f"{kind} not found", fix=fix)
    except IsADirectoryError:
        return YamlProblem(line=None, message="is a directory", fix=f"pass the {kind} itself")
    except PermissionError:
        return YamlProblem(
            line=None,
            message=f"{kind} is not readable (permission denied)",
            fix="grant read permission to the user running proctor",
        )
    except UnicodeDecodeError as exc:
        return YamlProblem(
            line=None,
            message=f"{kind} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            fix="save the file as UTF-8",
        )
    except OSError as exc:
        message = f"cannot read the {kind}: {exc.strerror or exc}"
        return YamlProblem(line=None, message=message, fix="check the path")


def load_yaml_file(path: str | Path, *, kind: str) -> Any:
    """The value of the YAML file at ``path``; any problem raises ``ConfigError``."""
    text = read_yaml_text(path, kind=kind)
    doc = parse_yaml(text, kind=kind) if isinstance(text, str) else YamlDocument()
    problems = [text] if isinstance(text, YamlProblem) else doc.problems
    if problems:
        raise ConfigError("\n".join(problem_text(str(path), problem) for problem in problems))
    return doc.value


def problem_text(file: str, problem: YamlProblem) -> str:
    """``file:line: message. Fix: fix``, the way every file problem reads."""
    where = file if problem.line is None else f"{file}:{problem.line}"
    return f"{where}: {problem.message.rstrip('.')}. Fix: {problem.fix}"


def _read(loader: Any, doc: YamlDocument, kind: str) -> None:
    stack: list[_Open] = []
    documents = 0
    while loader.check_event():
        event = loader.get_event()
        line = event.start_mark.line + 1
        if type(event) is _SCALAR:  # most events: a key or a value, taken the short way
            if event.anchor is not None:
                message = f"YAML anchor '&{event.anchor}': {kind}s allow no anchors or aliases"
                raise _Refused(YamlProblem(line=line, message=message, fix=_NO_ALIAS_FIX))
            if not stack:
                doc.lines[()] = line
                _place(stack, doc, _scalar(loader, event, (), line, kind, doc))
                continue
            parent = stack[-1]
            if type(parent.value) is dict:
                if parent.key is None:
                    if not parent.merging:
                        _open_key(parent, event, line, doc)
                        continue
                    path = parent.path
                else:
                    path = (*parent.path, parent.key)
            else:
                path = (*parent.path, len(parent.value))
                doc.lines.setdefault(path, line)
            _place(stack, doc, _scalar(loader, event, path, line, kind, doc))
            continue
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Refused(
                    YamlProblem(
                        line=line,
                        message="invalid YAML: expected a single document, but found another",
                        fix=_fix("expected a single document", "", kind),
                    )
                )
            continue
        if isinstance(event, yaml.AliasEvent):
            message = f"YAML alias '*{event.anchor}': {kind}s allow no anchors or aliases"
            raise _Refused(YamlProblem(line=line, message=message, fix=_NO_ALIAS_FIX))
        if not isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
            continue  # stream and document boundaries
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            message = f"YAML anchor '&{event.anchor}': {kind}s allow no anchors or aliases"
            raise _Refused(YamlProblem(line=line, message=message, fix=_NO_ALIAS_FIX))
        if isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            _place(stack, doc, _merged(done, doc))
            continue
        top = stack[-1] if stack else None
        if top is not None and isinstance(top.value, dict) and top.key is None and not top.merging:
            _open_key(top, event, line, doc)
            continue
        path = _child_path(stack)
        if top is None:
            doc.lines[()] = line
        elif isinstance(top.value, list):
            doc.lines.setdefault(path, line)
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_YAML_DEPTH:
                message = f"{_where(path)} is nested more than {MAX_YAML_DEPTH} levels deep"
                raise _Refused(YamlProblem(line=line, message=message, fix="flatten it"))
            if event.tag not in _PLAIN_TAGS:
                raise _Refused(_tag_problem(event.tag, line, kind))
            is_map = isinstance(event, yaml.MappingStartEvent)
            stack.append(_Open(path=path, value={} if is_map else []))
            continue
        _place(stack, doc, _scalar(loader, event, path, line, kind, doc))


def _child_path(stack: list[_Open]) -> KeyPath:
    if not stack:
        return ()
    top = stack[-1]
    if isinstance(top.value, list):
        return (*top.path, len(top.value))
    return top.path if top.key is None else (*top.path, top.key)


def _open_key(top: _Open, event: Any, line: int, doc: YamlDocument) -> None:
    if not isinstance(event, yaml.ScalarEvent):
        message = f"{_where(top.path)} has a key that is a mapping or list"
        raise _Refused(YamlProblem(line=line, message=message, fix="use a plain name as the key"))
    # A key is kept as written (never constructed): YAML 1.1 would read 'on:' as True.
    key = event.value
    if not key.isascii() and json_value_problem(key) is not None:
        message = f"{_where(top.path)} has a key with a lone surrogate (not valid Unicode)"
        doc.problems.append(YamlProblem(line=line, message=message, fix="correct the key"))
    top.key_line = line
    if event.implicit[0] and key == "<<":  # a merge key, as YAML 1.1 defines it
        top.merging = True
        return
    top.key = key
    doc.lines[(*top.path, key)] = line
    if key in top.written:
        inside = f" in {_where(top.path)}" if top.path else ""
        fix = "keep one of them (YAML would silently use the last)"
        doc.problems.append(
            YamlProblem(line=line, message=f"duplicate key {key!r}{inside}", fix=fix)
        )
    top.written.add(key)


def _place(stack: list[_Open], doc: YamlDocument, value: Any) -> None:
    if not stack:
        doc.value = value
        return
    top = stack[-1]
    if isinstance(top.value, list):
        top.value.append(value)
        return
    if top.merging:
        top.merges.append((value, top.key_line))
    elif top.key is not None:
        top.value[top.key] = value
    top.key, top.merging = None, False


def _merged(done: _Open, doc: YamlDocument) -> Any:
    """The mapping with its '<<' merge keys applied, as PyYAML applies them."""
    if not done.merges:
        return done.value
    merged: dict[str, Any] = {}
    for value, line in done.merges:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            fix = "merge ('<<') a mapping or a list of mappings, or write the keys out"
            message = f"{_where(done.path)}: '<<' needs a mapping"
            doc.problems.append(YamlProblem(line=line, message=message, fix=fix))
            continue
        # In a list of mappings the first one wins; keys written here win over all.
        for source in reversed(sources):
            merged.update(source)
    for key in merged:
        doc.lines.setdefault((*done.path, key), done.merges[0][1])
    assert isinstance(done.value, dict)
    return {**merged, **done.value}


def _scalar(loader: Any, event: Any, path: KeyPath, line: int, kind: str, doc: YamlDocument) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _STR:  # most scalars: the text itself, without building a node
        if not event.value.isascii() and json_value_problem(event.value) is not None:
            _not_json(event.value, path, line, doc)
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        value = loader.construct_object(node)
    except yaml.constructor.ConstructorError:
        raise _Refused(_tag_problem(event.tag, line, kind)) from None
    except (ValueError, OverflowError) as exc:  # '2024-13-45' looks like a date but is not
        message = f"{_where(path)}: {event.value!r} is not a valid {tag.rpartition(':')[2]} ({exc})"
        fix = "correct it, or quote it to keep it as text"
        doc.problems.append(YamlProblem(line=line, message=message, fix=fix))
        return event.value
    # Cheap for the usual value; the path is spelt out only for a refused one.
    if isinstance(value, str | int | float) and json_value_problem(value) is not None:
        _not_json(value, path, line, doc)
    return value


_STR = "tag:yaml.org,2002:str"


def _not_json(value: Any, path: KeyPath, line: int, doc: YamlDocument) -> None:
    problem = json_value_problem(value, where=_where(path))
    fix = (
        "write the text as valid Unicode (no '\\uD800'-style half of a surrogate pair)"
        if isinstance(value, str)
        else "write a finite number within 64 bits, or quote it to keep it as text"
    )
    doc.problems.append(YamlProblem(line=line, message=str(problem), fix=fix))


def _tag_problem(tag: str | None, line: int, kind: str) -> YamlProblem:
    return YamlProblem(
        line=line,
        message=f"unsupported YAML tag {tag!r}",
        fix=f"remove the '!tag': {kind}s use plain YAML values",
    )


def dotted(path: KeyPath) -> str:
    """A key path for messages: ``('ordering', 0, 'after')`` -> ``'ordering[0].after'``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _where(path: KeyPath) -> str:
    return dotted(path) or "the document"


def _fix(detail: str, written: str, kind: str) -> str:
    """How to mend a syntax error, from the parser's words and the line it stopped at."""
    if "\\t" in detail or "\t" in written[: len(written) - len(written.lstrip())]:
        return "indent with spaces, not tabs"
    if "maximum nesting depth" in detail:
        return "flatten it"
    if "mapping values are not allowed" in detail:
        return "quote values that contain ': ', and check the indentation of this line"
    if "expected a single document" in detail:
        return f"keep one YAML document per {kind} (remove the extra '---')"
    return "check the indentation and quoting on this line and the one before it"
