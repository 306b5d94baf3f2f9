"""CEL conditions: compiled once when a contract loads, evaluated per tool call."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proctor.errors import ConfigError, ProctorError

if TYPE_CHECKING:
    import cel

ROOTS = ("args", "input", "state", "calls", "scopes", "tool", "text")
"""Every variable a condition may read: the call's arguments, the run input, run state,
the calls made before, the run's scopes, the proposed tool's name, the final answer."""

CALL_ROOTS = ("args", "input", "state", "calls", "scopes", "tool")
"""What a condition about a proposed call reads (rules, approvals)."""
FINAL_ROOTS = ("text", "input", "state", "calls", "scopes")
"""What a condition about the final answer reads."""
SCOPE_ROOTS = ("input",)
"""What a scope reads: the run input, once, at start."""

FUNCTIONS: dict[str, str] = {
    "origin": "origin(x): the sources x was found in: 'input', tool names, 'model' (nowhere)",
    "trusted": "trusted(x): every part of x came from a trusted source",
    "untrusted": "untrusted(x): some part of x is found only in untrusted sources",
    "from_input": "from_input(x): x is found in the run input",
    "from_tool": "from_tool(x, tool): x is found in a result of that tool",
    "count": "count(tool) or count(tool, window_s): calls of tool that ran or are running",
    "sum": "sum(tool, field): running total of a numeric argument over those calls",
    "last": "last(tool): the latest such call ({tool, args, ok, status, result, at}) or null",
    "exists_call": "exists_call(tool, cond): such a call for which cond holds (it is `call`)",
    "lower": "lower(s)",
    "upper": "upper(s)",
    "trim": "trim(s)",
    "split": "split(s, separator)",
    "join": "join(list, separator)",
    "replace": "replace(s, old, new)",
    "find_all": "find_all(s, regex): every match (its first group, if any)",
    "emails": "emails(s): the e-mail addresses in s, lower-case",
    "urls": "urls(s): the URLs in s",
    "domains": "domains(s): the domain names in s (of URLs, addresses and bare ones)",
    "ibans": "ibans(s): the IBANs in s, upper-case without spaces",
    "numbers": "numbers(s): the numbers in s (24,500.00 is 24500)",
    "distinct": "distinct(list)",
    "flatten": "flatten(list of lists)",
    "intersects": "intersects(a, b): the lists share an element",
}
"""Proctor's functions for conditions, with their signatures (CEL's own come on top)."""

_CEL_FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "timestamp",
        "duration",
        "type",
        "dyn",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        "max",
        "min",
    }
)
_EXISTS_CALL = re.compile(r"\bexists_call\s*\(")

# Comprehension macros bind their own names (``items.all(i, i.ok)``); program.variables()
# lists those too, so they must not be mistaken for unknown roots. The optional second
# name covers two-variable comprehensions (``m.all(k, v, v > 0)``).
_BINDER = re.compile(
    r"\b(?:all|exists|exists_one|existsOne|map|filter|transformList|transformMap|bind)"
    r"\s*\(\s*([A-Za-z_]\w*)\s*,(?:\s*([A-Za-z_]\w*)\s*,)?"
)
_CEL_PREFIX = re.compile(r"^Failed to parse expression .*?: (?:ERROR: )?", re.DOTALL)
_CEL_POSITION = re.compile(r"^<input>:(\d+):(\d+): ")


class ConditionError(ProctorError):
    """A condition could not be evaluated (missing key, wrong type, non-bool result).

    The policy layer treats this as "do not allow silently": it fails closed.
    """


class ConditionCompileError(ConfigError):
    """A condition does not compile; ``detail`` says why and ``fix`` what to change."""

    def __init__(self, expr: str, detail: str, fix: str) -> None:
        self.expr = expr
        self.detail = detail
        self.fix = fix
        super().__init__(f"{detail}; {fix}")


@dataclass(frozen=True)
class CompiledCondition:
    """A CEL condition compiled once; ``evaluate`` only executes it."""

    source: str
    program: cel.Program
    roots: frozenset[str] = frozenset(ROOTS)
    """The variables the expression reads; only these are converted for CEL."""

    functions: frozenset[str] = frozenset()
    """Proctor's functions the expression calls (``FUNCTIONS``)."""

    def evaluate(
        self,
        args: dict[str, Any],
        input: dict[str, Any],
        state: dict[str, Any] | Callable[[], dict[str, Any]],
    ) -> bool:
        """True if the condition holds; ``ConditionError`` if it cannot be decided.

        ``state`` may be a function, called only if the expression reads ``state``.
        """
        # Converting a variable into CEL costs time in proportion to its size (a run's
        # state ~20 µs), so pass only what the expression reads.
        context: dict[str, Any] = {}
        if "args" in self.roots:
            context["args"] = args
        if "input" in self.roots:
            context["input"] = input
        if "state" in self.roots:
            context["state"] = state() if callable(state) else state
        return self.run(context)

    def run(self, context: dict[str, Any] | cel.Context) -> bool:
        """Execute with ``context`` (variables, or a ``cel.Context`` with functions too):
        true or false, else ``ConditionError``."""
        result = self.value(context)
        if not isinstance(result, bool):
            raise ConditionError(
                f"the condition gave {result!r} ({type(result).__name__}), not true or false"
            )
        return result

    def value(self, context: dict[str, Any] | cel.Context) -> Any:
        """Execute with ``context``: the expression's value, else ``ConditionError``."""
        try:
            return self.program.execute(context)
        except KeyError as exc:
            key = exc.args[0] if exc.args else "?"
            raise ConditionError(
                f"key {key!r} is missing (guard optional keys with has(...))"
            ) from exc
        except (TypeError, ValueError, RuntimeError, ArithmeticError) as exc:
            raise ConditionError(_first_sentence(str(exc))) from exc


@functools.lru_cache(maxsize=1024)
def compile_condition(expr: str, roots: tuple[str, ...] = CALL_ROOTS) -> CompiledCondition:
    """Compile a CEL condition that may read the variables ``roots`` (a proposed call's,
    by default) and call CEL's functions and Proctor's (``FUNCTIONS``).

    Raises ``ConfigError`` (a ``ConditionCompileError``) for syntax errors, for other
    variables and for unknown functions. Results are cached by source text, so the loader
    and the policy engine share one compiled program.
    """
    if not expr.strip():
        raise ConditionCompileError(expr, "the condition is empty", "write a CEL expression")
    source = expand_exists_call(expr)
    try:
        # Imported here: `cel` loads its own CLI stack (~0.25 s), which commands that never
        # compile a condition (runs, trace, audit) should not pay for.
        import cel

        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise ConditionCompileError(
            expr,
            f"cannot compile condition {expr!r}: {_syntax_detail(str(exc))}",
            "write a CEL expression such as 'args.amount > 10000'",
        ) from None
    bound = {name for match in _BINDER.finditer(source) for name in match.groups() if name}
    for name in program.variables():
        if name in roots or name in bound:
            continue
        close = difflib.get_close_matches(name, roots, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        where = f"this condition may use {', '.join(roots)}"
        if name in ROOTS:
            where = f"{name} is not known here: {where}"
        raise ConditionCompileError(
            expr, f"unknown variable {name!r} in condition {expr!r}", f"{where}{hint}"
        )
    called = {name for name in program.functions() if name[:1].isalpha()}
    for name in sorted(called - _CEL_FUNCTIONS - FUNCTIONS.keys()):
        close = difflib.get_close_matches(name, [*FUNCTIONS, *_CEL_FUNCTIONS], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConditionCompileError(
            expr,
            f"unknown function {name!r} in condition {expr!r}",
            f"use CEL's functions or Proctor's ({', '.join(FUNCTIONS)}){hint}",
        )
    used = frozenset(program.variables()) & frozenset(roots)
    return CompiledCondition(
        source=expr, program=program, roots=used, functions=frozenset(called & FUNCTIONS.keys())
    )


def expand_exists_call(expr: str) -> str:
    """``exists_call(T, COND)`` as the CEL it stands for: ``calls.exists(call, call.tool ==
    T && call.status != "failed" && (COND))`` (a function cannot take an unevaluated
    condition, so it is a macro)."""
    while True:
        match = _EXISTS_CALL.search(expr)
        if match is None:
            return expr
        arguments, end = call_arguments(expr, match.end())
        if len(arguments) != 2:
            raise ConditionCompileError(
                expr,
                f"exists_call takes a tool and a condition, got {len(arguments)} arguments",
                'write e.g. exists_call("refund", call.args.order_id == args.order_id)',
            )
        tool, cond = (part.strip() for part in arguments)
        expanded = f'calls.exists(call, call.tool == {tool} && call.status != "failed" && ({cond}))'
        expr = expr[: match.start()] + expanded + expr[end:]


def call_arguments(expr: str, at: int) -> tuple[list[str], int]:
    """The top-level, comma-separated arguments of the call whose ``(`` ends before ``at``,
    and the index after its ``)``; ``ConditionCompileError`` if it never closes."""
    depth, quote, parts, start = 0, "", [], at
    i = at
    while i < len(expr):
        char = expr[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                parts.append(expr[start:i])
                return parts, i + 1
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
        i += 1
    raise ConditionCompileError(
        expr, f"unbalanced parentheses in {expr!r}", "close every ( of exists_call(...)"
    )


def _syntax_detail(message: str) -> str:
    # cel reports "Failed to parse expression '...': ERROR: <input>:1:14: Syntax error: ..."
    # followed by a caret diagram; keep one line with the column, which is what a user needs.
    lines = _CEL_PREFIX.sub("", message).splitlines()
    detail = lines[0] if lines else "syntax error"
    position = _CEL_POSITION.match(detail)
    if position:
        detail = f"{detail[position.end() :]} (column {position.group(2)})"
    return detail


def _first_sentence(message: str) -> str:
    # cel's type errors append a paragraph of general advice; the first sentence is the news.
    head = message.split(". ", 1)[0]
    return head.rstrip(".") or "evaluation failed"
