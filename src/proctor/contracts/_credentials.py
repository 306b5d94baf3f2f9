"""Credential scopes: what each tool's short-lived credential may do, declared per contract.

```yaml
credentials:
  ttl_seconds: 60
  tools:
    erp.create_payment:
      actions: [payment.create]
      resources: ["vendor:{input.vendor_id}"]
      limits: {max_amount: 50000}
```

Resource patterns are templated from the *run input* and the run's *scopes* only, never
from the call's arguments: the model chooses the arguments, so a scope built from them
would grant whatever it asks for. A scope that is a list gives one resource per element
(``mailto:{scopes.recipients}``). In a pattern, ``*`` matches any text and ``\\`` makes
the next character literal; a value read from the input is always literal (its ``*`` is
escaped).

For a tool that does not check its credential itself, ``enforce`` names the resource a
call asks for, templated from its arguments (``mailto:{args.to}``): Proctor checks it
against the credential's resources before the tool runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Set
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt

from proctor.errors import CredentialDenied

MAX_TTL_SECONDS = 3600
"""Credentials are short-lived: a TTL above this is a contract error."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PATH = re.compile(r"^(input|scopes|args)(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_MAX_RESOURCES = 256
"""A pattern expanding to more resources than this (lists of lists) is refused."""
_LIMIT_KEY = re.compile(r"^max_[a-z][a-z0-9_]*$")

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, str]
"""(key path from the contract's root, message, fix)."""


class CredentialScope(BaseModel):
    """The rights of one tool's credential."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: list[str] = Field(min_length=1)
    """Actions the tool may perform, e.g. ``payment.create`` (matched exactly)."""
    resources: list[str] = Field(default_factory=list)
    """Resource patterns, templated from the run input and scopes:
    ``vendor:{input.vendor_id}``, ``mailto:{scopes.recipients}``."""
    enforce: str | None = None
    """The resource a call asks for, templated from its arguments (``mailto:{args.to}``):
    checked by Proctor against ``resources`` before the tool runs, for tools that do not
    check their credential themselves."""
    limits: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    """Numeric ceilings named ``max_<quantity>``, e.g. ``max_amount: 10000``."""
    ttl_seconds: PositiveInt | None = None
    """Lifetime of this tool's credential; default: ``credentials.ttl_seconds``."""


class Credentials(BaseModel):
    """Scoped, short-lived credentials issued for each permitted call of these tools."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_seconds: PositiveInt = 60
    """Lifetime of a credential, from just before its tool runs."""
    tools: dict[str, CredentialScope] = Field(default_factory=dict)
    """Scopes by tool name; a tool not listed gets no credential (it is granted nothing)."""


def credential_problems(credentials: Credentials, forbidden: Set[str]) -> list[Problem]:
    """Everything wrong with a contract's ``credentials`` section."""
    found: list[Problem] = []
    if credentials.ttl_seconds > MAX_TTL_SECONDS:
        found.append(_ttl_problem(("credentials", "ttl_seconds"), credentials.ttl_seconds))
    for name, scope in credentials.tools.items():
        where: Loc = ("credentials", "tools", name)
        if name in forbidden:
            found.append(
                (
                    where,
                    f"credential scopes for {name!r} can never be used: the tool is forbidden",
                    f"remove credentials.tools.{name}, or remove {name!r} from forbidden_tools",
                )
            )
        if scope.ttl_seconds is not None and scope.ttl_seconds > MAX_TTL_SECONDS:
            found.append(_ttl_problem((*where, "ttl_seconds"), scope.ttl_seconds))
        for i, action in enumerate(scope.actions):
            if not action.strip():
                found.append(
                    ((*where, "actions", i), "an action must not be empty", "name the action")
                )
        for i, pattern in enumerate(scope.resources):
            problem = template_problem(pattern)
            if problem is not None:
                found.append(((*where, "resources", i), *problem))
        if scope.enforce is not None:
            problem = template_problem(scope.enforce, request=True)
            if problem is not None:
                found.append(((*where, "enforce"), *problem))
        for key in scope.limits:
            if not _LIMIT_KEY.match(key):
                found.append(
                    (
                        (*where, "limits", key),
                        f"credential limit {key!r} must be named max_<quantity>",
                        "use e.g. max_amount, which ctx.credential.require(amount=...) checks",
                    )
                )
    return found


def _ttl_problem(loc: Loc, value: int) -> Problem:
    return (
        loc,
        f"a credential TTL of {value} seconds is not short-lived",
        f"use at most {MAX_TTL_SECONDS} seconds",
    )


def template_problem(pattern: str, *, request: bool = False) -> tuple[str, str] | None:
    """(message, fix) if ``pattern`` is not a valid resource template, else None.

    ``request``: the template of the resource a call asks for (``enforce``), read from
    the call's arguments, rather than a grant."""
    if not pattern:
        return "a resource pattern must not be empty", "write e.g. 'vendor:{input.vendor_id}'"
    for match in _PLACEHOLDER.finditer(pattern):
        inner = match.group(1).strip()
        if request:
            if not (_PATH.match(inner) and inner.startswith("args.")):
                return (
                    f"enforce {pattern!r} has placeholder {{{inner}}}, which does not name an "
                    "argument of the call",
                    "write {args.<argument>}, e.g. mailto:{args.to}",
                )
            continue
        if inner.startswith("args.") or inner == "args":
            return (
                f"resource pattern {pattern!r} reads {inner}: patterns are templated from the "
                "run input and scopes only, because the model chooses a call's arguments and "
                "a scope built from them would grant whatever it asks",
                "read the run input instead, e.g. {input.vendor_id}, or a scope, or write a "
                "fixed pattern (enforce: checks a call's arguments against the patterns)",
            )
        if not _PATH.match(inner):
            return (
                f"resource pattern {pattern!r} has placeholder {{{inner}}}, which does not name "
                "a field of the run input or a scope",
                "write {input.<field>} or {scopes.<name>}, e.g. {input.vendor_id}",
            )
    if "{" in _PLACEHOLDER.sub("", pattern) or "}" in _PLACEHOLDER.sub("", pattern):
        return (
            f"resource pattern {pattern!r} has an unmatched brace",
            "placeholders look like {input.<field>}; remove the stray brace",
        )
    return None


@functools.lru_cache(maxsize=512)
def _parts(pattern: str) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """The pattern as (literal text, None) and (placeholder text, input path) parts."""
    parts: list[tuple[str, tuple[str, ...] | None]] = []
    at = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append((pattern[at : match.start()], None))
        path = tuple(match.group(1).strip().split("."))
        parts.append((match.group(0), path))
        at = match.end()
    parts.append((pattern[at:], None))
    return tuple(part for part in parts if part[0])


def render_resources(
    tool: str,
    patterns: list[str],
    run_input: dict[str, Any],
    scopes: dict[str, Any] | None = None,
    *,
    args: dict[str, Any] | None = None,
) -> list[str]:
    """The patterns with each placeholder replaced by its value: ``{input.<field>}`` from
    the run input, ``{scopes.<name>}`` from the run's scopes, ``{args.<argument>}`` (in an
    ``enforce`` template) from the call. A list gives one resource per element.

    Values are escaped so they match literally. Raises ``CredentialDenied`` if a value is
    missing, or is something other than a string or number (or a list of them).
    """
    sources = {"input": run_input, "scopes": scopes or {}, "args": args or {}}
    rendered: list[str] = []
    for pattern in patterns:
        expansions = [""]
        for text, path in _parts(pattern):
            if path is None:
                expansions = [done + text for done in expansions]
                continue
            values = _values(tool, pattern, path, sources)
            expansions = [done + value for done in expansions for value in values]
            if len(expansions) > _MAX_RESOURCES:
                raise CredentialDenied(
                    f"cannot issue {tool}'s credential: resource pattern {pattern!r} expands "
                    f"to more than {_MAX_RESOURCES} resources. Fix: use fewer list values "
                    "in one pattern"
                )
        rendered.extend(expansions)
    return rendered


def _values(
    tool: str, pattern: str, path: tuple[str, ...], sources: dict[str, dict[str, Any]]
) -> list[str]:
    value: Any = sources.get(path[0], {})
    for key in path[1:]:
        if not isinstance(value, dict) or key not in value:
            value = _MISSING
            break
        value = value[key]
    items = value if isinstance(value, list) else [value]
    if value is _MISSING or not all(_scalar(item) for item in items):
        field = ".".join(path)
        found = "has no such field" if value is _MISSING else f"holds {type(value).__name__}"
        where = {"input": "the run's input", "scopes": "the run's scopes", "args": "the call"}
        fix = {
            "input": f"start the run with {field} (a string or number) in its input",
            "scopes": f"make sure the scope {path[1] if len(path) > 1 else ''!r} is computed",
            "args": "call the tool with that argument",
        }
        raise CredentialDenied(
            f"cannot issue {tool}'s credential: resource pattern {pattern!r} reads "
            f"{field}, but {where[path[0]]} {found}. Fix: {fix[path[0]]}, or change "
            f"credentials.tools.{tool}.resources in the contract"
        )
    return [str(item).replace("\\", "\\\\").replace("*", "\\*") for item in items]


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


_MISSING: Any = object()
