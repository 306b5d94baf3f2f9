"""Contract problems about what a contract names: tools, their arguments and fields, scopes.

``registry_problems`` works on the raw data (so a contract that is invalid in other ways
is checked too) and reports each problem at the line of the key that holds it:

* tools: the lists (``allowed_tools``, ``forbidden_tools``, ``required_steps``),
  ``ordering`` (``tool``, ``after``, ``any_of``, ``not_after``), ``rules`` (``deny``,
  ``allow``), ``approvals``, ``trust.tools``, ``credentials.tools``, and the tools that
  conditions name to ``from_tool``, ``count``, ``sum``, ``last`` and ``exists_call``;
* arguments: ``args.X`` in approval and rule conditions, ordering's ``same``, ``sum``'s
  field, ``call.args.X`` in ``exists_call`` and ``{args.X}`` in a credential's
  ``enforce``, against each tool's JSON schema;
* scopes: ``scopes.NAME`` in conditions and ``{scopes.NAME}`` in credential resources;
* trust field paths, against a tool's result fields where its return type declares them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from proctor._yaml import KeyPath, dotted
from proctor.contracts._check import Draft, ParsedFile
from proctor.contracts._condition_refs import (
    WILDCARD_FUNCTIONS,
    ToolCall,
    argument_reads,
    scope_reads,
    tool_calls,
)
from proctor.contracts._output import result_fields

if TYPE_CHECKING:
    from proctor.tools import Registry

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_WILDCARD_FIX = (
    "'*' (every tool) is understood only in ordering[].tool, a rule's deny or allow, and "
    "count, sum and last; name the tools one by one"
)
_CONDITIONS = ("approvals", "rules", "final")


def registry_problems(
    parsed: ParsedFile,
    registry_for: Callable[[str], Registry | None],
    known_workflows: Sequence[str] = (),
) -> None:
    """Add to ``parsed`` each workflow that is unknown, each tool, argument or result field
    it names but its tools lack, and each scope it reads but does not declare."""
    for draft in parsed.drafts:
        _scope_problems(parsed, draft)
        if draft.workflow is None:
            continue  # the missing name is already a structural problem
        registry = registry_for(draft.workflow)
        if registry is None:
            parsed.add(
                draft.source_path(("workflow",)),
                f"no workflow named {draft.workflow!r} is registered",
                choose(draft.workflow, known_workflows, "workflows")
                if known_workflows
                else "register the workflow with its tools, or fix the name",
            )
            continue
        checks = _Checks(parsed, draft, registry)
        checks.tools()
        checks.condition_arguments()
        checks.ordering_same()
        checks.enforced_arguments()
        checks.trust_fields()


def choose(name: str, options: Sequence[str], kind: str) -> str:
    """A did-you-mean for ``name`` among ``options``, else the list of them."""
    close = difflib.get_close_matches(name, list(options), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"registered {kind}: {', '.join(options)}" if options else f"there are no {kind}"


class _Checks:
    """The registry checks of one workflow's contract data."""

    def __init__(self, parsed: ParsedFile, draft: Draft, registry: Registry) -> None:
        self.parsed, self.draft, self.registry = parsed, draft, registry
        self.data = draft.data

    def add(self, loc: KeyPath, message: str, fix: str) -> None:
        self.parsed.add(self.draft.source_path(loc), message, fix)

    def tools(self) -> None:
        workflow = self.draft.workflow
        for loc, name, wildcard, how in _tool_refs(self.data):
            if name in self.registry or (name == "*" and wildcard):
                continue
            written = self.draft.source_path(loc)
            keyed = isinstance(written[-1], int) or written[:2] in (
                ("credentials", "tools"),
                ("trust", "tools"),
            )
            where = dotted(written[:-1] if keyed else written) + how
            if name == "*":
                fix = _WILDCARD_FIX
            elif len(self.registry):
                fix = choose(name, self.registry.names, "tools")
            else:
                fix = "the workflow has no tools registered"
            message = f"tool {name!r} in {where} is not registered for workflow {workflow!r}"
            self.parsed.add(written, message, fix)

    def condition_arguments(self) -> None:
        for loc, tools, when in _call_conditions(self.data):
            for arg, guarded in argument_reads(when).items():
                self._argument(loc, tools, arg, guarded)
        for key in _CONDITIONS:
            for loc, when in _conditions(self.data, key):
                for call in tool_calls(when):
                    self._function_arguments(loc, call)

    def ordering_same(self) -> None:
        rules = self.data.get("ordering")
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            same = rule.get("same") if isinstance(rule, dict) else None
            if not isinstance(same, str):
                continue
            field = same.removeprefix("args.")
            named = [rule.get("tool")] + [
                tool
                for key in ("after", "any_of", "not_after")
                for tool in (rule.get(key) if isinstance(rule.get(key), list) else [])
            ]
            for tool in dict.fromkeys(t for t in named if isinstance(t, str)):
                properties = self._arguments_of(tool)
                if properties is None or field in properties:
                    continue
                if tool == rule.get("tool"):
                    fix = choose(field, sorted(properties), "arguments")
                else:  # no earlier call of it can ever match
                    takes = ", ".join(sorted(properties)) or "no arguments"
                    fix = (
                        f"move {tool} to a rule without same, or compare an argument every "
                        f"tool of the rule takes ({tool} takes {takes})"
                    )
                self.add(
                    ("ordering", i, "same"),
                    f"ordering[{i}].same compares argument {field!r} between calls, but "
                    f"{tool} has no argument {field!r}",
                    fix,
                )

    def enforced_arguments(self) -> None:
        credentials = self.data.get("credentials")
        tools = credentials.get("tools") if isinstance(credentials, dict) else None
        for tool, scope in tools.items() if isinstance(tools, dict) else ():
            enforce = scope.get("enforce") if isinstance(scope, dict) else None
            properties = self._arguments_of(str(tool))
            if not isinstance(enforce, str) or properties is None:
                continue
            for inner in _PLACEHOLDER.findall(enforce):
                path = inner.strip().split(".")
                if path[0] == "args" and len(path) > 1 and path[1] not in properties:
                    self.add(
                        ("credentials", "tools", tool, "enforce"),
                        f"enforce {enforce!r} reads args.{path[1]}, but {tool} has no "
                        f"argument {path[1]!r}",
                        choose(path[1], sorted(properties), "arguments"),
                    )

    def trust_fields(self) -> None:
        trust = self.data.get("trust")
        tools = trust.get("tools") if isinstance(trust, dict) else None
        for tool, source in tools.items() if isinstance(tools, dict) else ():
            fields = source.get("fields") if isinstance(source, dict) else None
            found = self.registry.get(str(tool))
            if not isinstance(fields, dict) or found is None:
                continue
            known = result_fields(found)
            if known is None:
                continue  # its return type declares no fields: nothing to check against
            for path in fields:
                first = str(path).split(".")[0]
                if first not in known:
                    self.add(
                        ("trust", "tools", tool, "fields", path),
                        f"trust field {path!r} of {tool}: its results have no field {first!r}",
                        choose(first, sorted(known), "result fields"),
                    )

    def _argument(self, loc: KeyPath, tools: list[str], arg: str, guarded: bool) -> None:
        schemas = {tool: self._arguments_of(tool) for tool in tools if tool != "*"}
        known = {tool: props for tool, props in schemas.items() if props is not None}
        lacking = [tool for tool, props in known.items() if arg not in props]
        if not lacking:
            return
        if len(lacking) == len(known):
            everything = sorted({name for props in known.values() for name in props})
            who = (
                f"{lacking[0]} has no"
                if len(lacking) == 1
                else f"none of {', '.join(lacking)} has an"
            )
            message = f"condition reads args.{arg}, but {who} argument {arg!r}"
            self.add(loc, message, choose(arg, everything, "arguments"))
        elif not guarded:
            self.add(
                loc,
                f"condition reads args.{arg}, but {', '.join(lacking)} "
                f"{'has' if len(lacking) == 1 else 'have'} no argument {arg!r}",
                f"guard the read with has(args.{arg}), or name only tools that take it",
            )

    def _function_arguments(self, loc: KeyPath, call: ToolCall) -> None:
        tool, field = call.tool, call.field
        if tool == "*":
            return
        properties = self._arguments_of(tool)
        if properties is None:
            return
        if field is not None:
            first = field.split(".")[0]
            if first not in properties:
                self.add(
                    loc,
                    f'sum("{tool}", "{field}") adds up argument {first!r}, but {tool} has no '
                    f"argument {first!r}",
                    choose(first, sorted(properties), "arguments"),
                )
        for arg in call.call_args:
            if arg not in properties:
                self.add(
                    loc,
                    f'exists_call("{tool}", ...) reads call.args.{arg}, but {tool} has no '
                    f"argument {arg!r}",
                    choose(arg, sorted(properties), "arguments"),
                )

    def _arguments_of(self, tool: str) -> list[str] | None:
        """The tool's argument names, or ``None`` when unknown or open (any argument)."""
        found = self.registry.get(tool)
        if found is None:
            return None
        schema = found.parameters
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if not isinstance(properties, dict) or (extra is not None and extra is not False):
            return None
        return list(properties)


def _scope_problems(parsed: ParsedFile, draft: Draft) -> None:
    """Scopes read (in conditions and credential resources) that the contract lacks."""
    scopes = draft.data.get("scopes")
    declared = sorted(str(name) for name in scopes) if isinstance(scopes, dict) else []

    def fix(name: str) -> str:
        if declared:
            return choose(name, declared, "scopes").replace("registered", "declared")
        return f"declare it: scopes: {{{name}: <CEL over input>}}"

    for key in _CONDITIONS:
        for loc, when in _conditions(draft.data, key):
            for name in scope_reads(when):
                if name not in declared:
                    parsed.add(
                        draft.source_path(loc),
                        f"condition reads scopes.{name}, but the contract declares no scope "
                        f"{name!r}",
                        fix(name),
                    )
    for loc, pattern in _resources(draft.data):
        for inner in _PLACEHOLDER.findall(pattern):
            path = inner.strip().split(".")
            if path[0] == "scopes" and len(path) > 1 and path[1] not in declared:
                parsed.add(
                    draft.source_path(loc),
                    f"resource pattern {pattern!r} reads scopes.{path[1]}, but the contract "
                    f"declares no scope {path[1]!r}",
                    fix(path[1]),
                )


# --- where the raw data names things ------------------------------------------------


def _tool_refs(data: dict[str, Any]) -> Iterator[tuple[KeyPath, str, bool, str]]:
    """(where, tool name, whether ``"*"`` is understood there, how it is named)."""
    for key in ("allowed_tools", "forbidden_tools", "required_steps"):
        for loc, name in _names(data.get(key), (key,)):
            yield loc, name, False, ""
    for key in ("ordering", "approvals"):
        for i, rule in _items(data, key):
            if isinstance(rule.get("tool"), str):
                yield (key, i, "tool"), rule["tool"], key == "ordering", ""
            if key == "ordering":
                for part in ("after", "any_of", "not_after"):
                    for loc, name in _names(rule.get(part), (key, i, part)):
                        yield loc, name, False, ""
    for i, rule in _items(data, "rules"):
        for kind in ("deny", "allow"):
            value = rule.get(kind)
            if isinstance(value, str):
                yield ("rules", i, kind), value, True, ""
            for loc, name in _names(value, ("rules", i, kind)):
                yield loc, name, True, ""
    for section in ("trust", "credentials"):
        block = data.get(section)
        tools = block.get("tools") if isinstance(block, dict) else None
        for name in tools if isinstance(tools, dict) else ():
            yield (section, "tools", name), str(name), False, ""
    for key in _CONDITIONS:
        for loc, when in _conditions(data, key):
            for call in tool_calls(when):
                wildcard = call.function in WILDCARD_FUNCTIONS
                yield loc, call.tool, wildcard, f' ({call.function}("{call.tool}"))'


def _call_conditions(data: dict[str, Any]) -> Iterator[tuple[KeyPath, list[str], str]]:
    """(where, the tools it covers, condition) of each approval and rule condition."""
    for key in ("approvals", "rules"):
        for i, rule in _items(data, key):
            when = rule.get("when")
            if not isinstance(when, str):
                continue
            if key == "approvals":
                named: Any = rule.get("tool")
            else:
                named = rule.get("deny") if rule.get("deny") is not None else rule.get("allow")
            tools = [named] if isinstance(named, str) else named
            if isinstance(tools, list) and "*" not in tools:
                yield (key, i, "when"), [t for t in tools if isinstance(t, str)], when


def _conditions(data: dict[str, Any], key: str) -> Iterator[tuple[KeyPath, str]]:
    for i, item in _items(data, key):
        if isinstance(item.get("when"), str):
            yield (key, i, "when"), item["when"]


def _resources(data: dict[str, Any]) -> Iterator[tuple[KeyPath, str]]:
    credentials = data.get("credentials")
    tools = credentials.get("tools") if isinstance(credentials, dict) else None
    for name, scope in tools.items() if isinstance(tools, dict) else ():
        patterns = scope.get("resources") if isinstance(scope, dict) else None
        yield from _names(patterns, ("credentials", "tools", name, "resources"))


def _items(data: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    items = data.get(key)
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield i, item


def _names(values: Any, loc: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    for i, value in enumerate(values if isinstance(values, list) else []):
        if isinstance(value, str):
            yield (*loc, i), value
