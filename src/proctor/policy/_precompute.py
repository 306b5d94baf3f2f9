"""Proctor's functions called on fixed arguments, computed before CEL runs.

Calling back from CEL into Python costs 2-4 µs a call, and a program that calls Proctor's
functions needs a ``cel.Context``, whose variables cost ~8 µs more to set than a plain
dict's. Most calls in contracts take fixed arguments: a field of the call or the input
(``untrusted(args.to)``), a literal (``count("email.send", 3600)``). Such a call is
computed in Python first and read by the program as a variable, ``_f<n>``; a program
left with no call of Proctor's runs on a plain dict. Calls over a comprehension's
variable (``urls(args.body).exists(u, untrusted(u))``) stay callbacks.

The binding also converts a map slowly (~3 µs an entry, against ~0.5 µs for a variable
of its own), so the rewritten program reads fields as variables too: ``args.to`` becomes
``args__to`` and ``has(args.to)`` ``args__has__to``, unless it reads the root whole.

If any precomputed call cannot be made (a missing field, a wrong type), the original
conditions are evaluated instead, so each still fails closed on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proctor.contracts import (
    FUNCTIONS,
    CompiledCondition,
    ConditionCompileError,
    call_arguments,
    expand_exists_call,
)
from proctor.policy._subset import Evaluate, compile_subset

VARIABLE = "_f"
MISSING: Any = object()
"""A precomputed call whose arguments are not there (the program must not read it)."""
SEPARATOR = "__"
_ROOTS = ("args", "input", "scopes", "state")
QUANTIFIABLE = ("trusted", "untrusted", "from_input")
"""Functions of one value whose ``LIST.exists(x, f(x))`` / ``.all`` is made in Python (a
callback from CEL per element, and a ``cel.Context``, cost more than the loop)."""
_CALL = re.compile(
    rf"(?<![\w.])({'|'.join(name for name in FUNCTIONS if name != 'exists_call')})\s*\("
)
_PATH = re.compile(rf"^({'|'.join(_ROOTS)})((?:\.[A-Za-z_]\w*)+)$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_QUANTIFIED = re.compile(
    rf"(?<![\w.])({VARIABLE}\d+|(?:{'|'.join(_ROOTS)})(?:\.[A-Za-z_]\w*)+)\s*\.\s*(exists|all)"
    rf"\s*\(\s*([A-Za-z_]\w*)\s*,\s*({'|'.join(QUANTIFIABLE)})\s*\(\s*\3\s*\)\s*\)"
)
_STRING = re.compile(r"""("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")

Argument = tuple[str, Any]
"""``("literal", value)``, ``("path", (root, key, ...))`` or ``("made", index)`` (the result
of an earlier call)."""


@dataclass(frozen=True, slots=True)
class Precomputed:
    """A program rewritten to read precomputed calls, and those calls."""

    program: CompiledCondition
    calls: tuple[tuple[str, tuple[Argument, ...]], ...]
    """For ``_f.k<n>``: the function and its arguments."""
    callbacks: bool
    """Calls of Proctor's remain (a ``cel.Context`` is still needed)."""
    readers: tuple[tuple[str, str, str, str, int], ...] = ()
    """How to make each variable the program reads: (name, kind, root, field, index) with
    kind ``made`` (the result of call ``index``), ``field``, ``has`` or ``root``."""
    native: Evaluate | None = None
    """The program in Python (``_subset``), when it uses only CEL's plainest parts."""


def precompute(condition: CompiledCondition) -> Precomputed | None:
    """``condition`` with its fixed-argument calls lifted out, or ``None`` if it has none."""
    source = expand_exists_call(condition.source)
    if "\\" in source:  # escapes in literals: leave the expression alone
        return None
    strings = [(m.start(), m.end()) for m in _STRING.finditer(source)]
    out: list[str] = []
    calls: list[tuple[str, tuple[Argument, ...]]] = []
    at = 0
    for match in _CALL.finditer(source):
        start = match.start()
        if start < at or any(a <= start < b for a, b in strings):
            continue
        parsed = _arguments(source, match.end())
        if parsed is None:
            continue
        texts, end = parsed
        arguments = [_static(text) for text in texts]
        if any(argument is None for argument in arguments):
            continue
        out.append(source[at:start])
        out.append(f"{VARIABLE}{len(calls)}")
        calls.append((match.group(1), tuple(a for a in arguments if a is not None)))
        at = end
    out.append(source[at:])
    rewritten = _flatten(_lift_quantifiers("".join(out), calls))
    if not calls and rewritten == source:
        return None
    import cel

    try:
        program = cel.compile(rewritten)
    except (ValueError, RuntimeError):
        return None
    variables = frozenset(program.variables())
    remaining = {name for name in program.functions() if name in FUNCTIONS}
    return Precomputed(
        native=None if remaining else compile_subset(rewritten),
        readers=tuple(_reader(name) for name in sorted(variables)),
        program=CompiledCondition(
            source=rewritten,
            program=program,
            roots=variables,
            functions=frozenset(remaining),
        ),
        calls=tuple(calls),
        callbacks=bool(remaining),
    )


def as_is(condition: CompiledCondition) -> Precomputed:
    """``condition`` unchanged (nothing to lift or flatten), reading its roots whole: still
    one program for the tool's chains rather than a program per rule."""
    return Precomputed(
        native=None if condition.functions else compile_subset(condition.source),
        program=condition,
        calls=(),
        callbacks=bool(condition.functions),
        readers=tuple((root, "root", root, "", 0) for root in sorted(condition.roots)),
    )


def _lift_quantifiers(source: str, calls: list[tuple[str, tuple[Argument, ...]]]) -> str:
    """``L.exists(x, f(x))`` and ``L.all(x, f(x))``, with ``L`` a lifted call or a fixed
    path and ``f`` one of ``QUANTIFIABLE``, as calls ``exists:f`` / ``all:f`` of their own
    (outside string literals)."""
    strings = [(m.start(), m.end()) for m in _STRING.finditer(source)]
    out: list[str] = []
    at = 0
    for match in _QUANTIFIED.finditer(source):
        if any(a <= match.start() < b for a, b in strings):
            continue
        target, quantifier, _, function = match.groups()
        argument: Argument | None
        if target.startswith(VARIABLE):
            argument = ("made", int(target[len(VARIABLE) :]))
        else:
            argument = _static(target)
        if argument is None:
            continue
        out.append(source[at : match.start()])
        out.append(f"{VARIABLE}{len(calls)}")
        calls.append((f"{quantifier}:{function}", (argument,)))
        at = match.end()
    out.append(source[at:])
    return "".join(out)


def flat_variables(pre: Precomputed, variables: dict[str, Any], made: list[Any]) -> dict[str, Any]:
    """The variables ``pre.program`` reads: the calls made, each field on its own, and the
    roots it reads whole. A missing field, or a call that could not be made (``MISSING``),
    is left out: CEL fails only if the program reads it (``has(args.x) && args.x``)."""
    out: dict[str, Any] = {}
    for name, kind, root, field, index in pre.readers:
        if kind == "field":
            value = variables.get(root)
            if isinstance(value, dict) and field in value:
                out[name] = value[field]
        elif kind == "made":
            if made[index] is not MISSING:
                out[name] = made[index]
        elif kind == "has":
            value = variables[root]
            out[name] = isinstance(value, dict) and field in value
        elif root in variables:
            out[name] = variables[root]
    return out


def _reader(name: str) -> tuple[str, str, str, str, int]:
    # Split once here, not on every decision.
    if name.startswith(VARIABLE) and name[len(VARIABLE) :].isdigit():
        return name, "made", "", "", int(name[len(VARIABLE) :])
    root, sep, field = name.partition(SEPARATOR)
    if not sep or root not in _ROOTS:
        return name, "root", name, "", 0
    if field.startswith("has" + SEPARATOR):
        return name, "has", root, field[len("has" + SEPARATOR) :], 0
    return name, "field", root, field, 0


def _flatten(source: str) -> str:
    """``R.field`` as ``R__field`` and ``has(R.field)`` as ``R__has__field`` outside string
    literals, for each root ``R`` the expression never reads whole."""
    parts = _STRING.split(source)
    code = "\n".join(part for index, part in enumerate(parts) if index % 2 == 0)
    for root in _ROOTS:
        whole = re.compile(rf"(?<![\w.]){root}\b(?!\s*\.\s*[A-Za-z_])")
        if whole.search(code):
            continue
        has = re.compile(rf"\bhas\s*\(\s*{root}\s*\.\s*([A-Za-z_]\w*)\s*\)")
        field = re.compile(rf"(?<![\w.]){root}\s*\.\s*([A-Za-z_]\w*)")
        for index in range(0, len(parts), 2):
            parts[index] = has.sub(
                lambda m, r=root: f"{r}{SEPARATOR}has{SEPARATOR}{m[1]}", parts[index]
            )
            parts[index] = field.sub(lambda m, r=root: f"{r}{SEPARATOR}{m[1]}", parts[index])
    return "".join(parts)


def resolve(argument: Argument, variables: dict[str, Any], made: Sequence[Any] = ()) -> Any:
    """An argument's value: a literal, an earlier call's result (``made``), or a path into
    the decision's variables (``KeyError`` if it is missing, as CEL would fail)."""
    kind, value = argument
    if kind == "literal":
        return value
    if kind == "made":
        result = made[value]
        if result is MISSING:
            raise KeyError(f"{VARIABLE}{value}")
        return result
    root, *keys = value
    found: Any = variables[root]
    for key in keys:
        if not isinstance(found, dict):
            raise KeyError(key)
        found = found[key]
    return found


def _static(text: str) -> Argument | None:
    text = text.strip()
    path = _PATH.match(text)
    if path is not None:
        return ("path", (path.group(1), *path.group(2)[1:].split(".")))
    if _NUMBER.match(text):
        return ("literal", float(text) if "." in text else int(text))
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and text[0] not in text[1:-1]:
        return ("literal", json.loads('"' + text[1:-1] + '"'))
    return None


def _arguments(source: str, at: int) -> tuple[list[str], int] | None:
    """The top-level arguments of the call whose ``(`` ends at ``at`` (none for ``f()``),
    and the index after its ``)``; ``None`` if unbalanced."""
    try:
        parts, end = call_arguments(source, at)
    except ConditionCompileError:
        return None
    return ([] if parts == [""] else parts), end
