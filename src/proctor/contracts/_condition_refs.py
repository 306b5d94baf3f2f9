"""What a condition refers to by name: tools, arguments, scopes.

``contract check`` compares these with the workflow's tools and the contract's scopes.
The scan is textual over the condition's code (string literals blanked out, so a quoted
``"args.x"`` is no read of ``args``); a condition that does not parse yields what could
be read before the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proctor.contracts._cel import ConditionCompileError, call_arguments

TOOL_ARGUMENT: dict[str, int] = {
    "from_tool": 1,
    "count": 0,
    "sum": 0,
    "last": 0,
    "exists_call": 0,
}
"""Proctor's functions that name a tool, and the position of that argument."""

WILDCARD_FUNCTIONS = frozenset({"count", "sum", "last"})
"""The functions for which the tool ``"*"`` means every tool."""

_FUNCTION = re.compile(r"(?<![\w.])(" + "|".join(TOOL_ARGUMENT) + r")\s*\(")
_ARG = re.compile(r"(?<![\w.])args\s*\.\s*([A-Za-z_]\w*)")
_CALL_ARG = re.compile(r"(?<![\w.])call\s*\.\s*args\s*\.\s*([A-Za-z_]\w*)")
_SCOPE = re.compile(r"(?<![\w.])scopes\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(['\"])([^'\"]*)\2\s*\])")
_LITERAL = re.compile(r"""^(?:'([^'\\]*)'|"([^"\\]*)")$""")


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """A call of one of Proctor's tool functions whose tool is a string literal."""

    function: str
    tool: str
    arguments: tuple[str, ...]
    """Every argument as written (the literal included)."""

    @property
    def field(self) -> str | None:
        """``sum``'s field, when it is a literal: ``"amount"`` (or ``"args.amount"``)."""
        if self.function != "sum" or len(self.arguments) != 2:
            return None
        value = literal(self.arguments[1])
        return None if value is None else value.removeprefix("args.")

    @property
    def call_args(self) -> list[str]:
        """The arguments of ``call`` that ``exists_call``'s condition reads."""
        if self.function != "exists_call" or len(self.arguments) != 2:
            return []
        return list(dict.fromkeys(_CALL_ARG.findall(code_only(self.arguments[1]))))


def tool_calls(expr: str) -> list[ToolCall]:
    """Each call of ``from_tool``, ``count``, ``sum``, ``last`` or ``exists_call`` in
    ``expr`` whose tool is given as a string literal, in order."""
    found: list[ToolCall] = []
    for match in _FUNCTION.finditer(code_only(expr)):
        try:
            arguments, _ = call_arguments(expr, match.end())
        except ConditionCompileError:
            break  # unbalanced: the compile error is reported already
        function = match.group(1)
        position = TOOL_ARGUMENT[function]
        if position < len(arguments):
            tool = literal(arguments[position])
            if tool is not None:
                found.append(ToolCall(function=function, tool=tool, arguments=tuple(arguments)))
    return found


def argument_reads(expr: str) -> dict[str, bool]:
    """The proposed call's arguments ``expr`` reads (``args.X``), each with whether it is
    guarded by ``has(args.X)``."""
    code = code_only(expr)
    return {
        name: re.search(rf"\bhas\s*\(\s*args\s*\.\s*{name}\s*\)", code) is not None
        for name in dict.fromkeys(_ARG.findall(code))
    }


def scope_reads(expr: str) -> list[str]:
    """The scopes ``expr`` reads: ``scopes.NAME`` or ``scopes["NAME"]``."""
    code = code_only(expr)
    names: list[str] = []
    for match in _SCOPE.finditer(code):
        if match.group(1):
            names.append(match.group(1))
        else:  # the name is a literal, blanked in ``code``: read it from the source
            names.append(expr[match.start(3) : match.end(3)])
    return list(dict.fromkeys(names))


def literal(text: str) -> str | None:
    """The value of a plain string literal (no escapes), else ``None``."""
    match = _LITERAL.match(text.strip())
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def code_only(expr: str) -> str:
    """``expr`` with the content of its string literals replaced by spaces (same length,
    so positions still match the source)."""
    out = list(expr)
    i, end = 0, len(expr)
    while i < end:
        if expr[i] not in "\"'":
            i += 1
            continue
        quote = expr[i : i + 3] if expr[i : i + 3] in ('"""', "'''") else expr[i]
        j = i + len(quote)
        while j < end and not expr.startswith(quote, j):
            j += 2 if expr[j] == "\\" else 1
        for k in range(i + len(quote), min(j, end)):
            out[k] = " "
        i = j + len(quote)
    return "".join(out)
