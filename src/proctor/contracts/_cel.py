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

ROOTS = ("args", "input", "state")
"""The only variables a condition may read: the call's arguments, the run input, run state."""

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
        try:
            result = self.program.execute(context)
        except KeyError as exc:
            key = exc.args[0] if exc.args else "?"
            raise ConditionError(
                f"key {key!r} is missing (guard optional keys with has(...))"
            ) from exc
        except (TypeError, ValueError, RuntimeError, ArithmeticError) as exc:
            raise ConditionError(_first_sentence(str(exc))) from exc
        if not isinstance(result, bool):
            raise ConditionError(
                f"the condition gave {result!r} ({type(result).__name__}), not true or false"
            )
        return result


@functools.lru_cache(maxsize=1024)
def compile_condition(expr: str) -> CompiledCondition:
    """Compile a CEL condition over ``args``, ``input`` and ``state``.

    Raises ``ConfigError`` (a ``ConditionCompileError``) for syntax errors and for
    variables other than those three. Results are cached by source text, so the loader
    and the policy engine share one compiled program.
    """
    if not expr.strip():
        raise ConditionCompileError(expr, "the condition is empty", "write a CEL expression")
    try:
        # Imported here: `cel` loads its own CLI stack (~0.25 s), which commands that never
        # compile a condition (runs, trace, audit) should not pay for.
        import cel

        program = cel.compile(expr)
    except (ValueError, RuntimeError) as exc:
        raise ConditionCompileError(
            expr,
            f"cannot compile condition {expr!r}: {_syntax_detail(str(exc))}",
            "write a CEL expression such as 'args.amount > 10000'",
        ) from None
    bound = {name for match in _BINDER.finditer(expr) for name in match.groups() if name}
    for name in program.variables():
        if name in ROOTS or name in bound:
            continue
        close = difflib.get_close_matches(name, ROOTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConditionCompileError(
            expr,
            f"unknown variable {name!r} in condition {expr!r}",
            f"conditions may use args, input and state{hint}",
        )
    roots = frozenset(program.variables()) & frozenset(ROOTS)
    return CompiledCondition(source=expr, program=program, roots=roots)


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
