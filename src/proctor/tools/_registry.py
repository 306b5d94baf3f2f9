"""The registry: the only tools a run can call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from proctor.errors import UsageError
from proctor.tools._tool import Effect, Risk, Tool


class Registry:
    """A named set of tools. Anything not registered here cannot be called."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    @classmethod
    def from_openai(
        cls,
        specs: Iterable[Mapping[str, Any]],
        handlers: Mapping[str, Callable[..., Any]],
        *,
        effects: Mapping[str, Effect] | None = None,
        risks: Mapping[str, Risk] | None = None,
        default_effect: Effect = "write",
    ) -> Registry:
        """The tools a list of OpenAI function specs describes (``{"type": "function",
        "function": {...}}`` or the bare ``{"name", "description", "parameters"}``), each
        run by ``handlers[name]`` (see ``Tool.from_schema``).

        A spec says nothing of effects: ``effects`` names them, and a tool it leaves out
        counts as ``default_effect`` (a write, so policy treats an unknown tool with care).
        """
        effects, risks = effects or {}, risks or {}
        tools: list[Tool] = []
        for index, spec in enumerate(specs):
            function = spec.get("function", spec) if spec.get("type") == "function" else spec
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise UsageError(f"OpenAI function spec {index} has no name")
            handler = handlers.get(name)
            if handler is None:
                raise UsageError(
                    f"no handler for the function {name!r}: pass handlers={{{name!r}: ...}}"
                )
            tools.append(
                Tool.from_schema(
                    name,
                    function.get("parameters"),
                    handler,
                    description=str(function.get("description") or ""),
                    effect=effects.get(name, default_effect),
                    risk=risks.get(name, "low"),
                )
            )
        unused = sorted(set(handlers) - {t.name for t in tools})
        if unused:
            raise UsageError(f"handlers for functions no spec describes: {', '.join(unused)}")
        unknown = sorted((set(effects) | set(risks)) - {t.name for t in tools})
        if unknown:
            raise UsageError(f"effects or risks for functions no spec describes: {unknown}")
        return cls(tools)

    def register(self, item: Tool) -> Tool:
        if item.name in self._tools:
            raise UsageError(f"tool {item.name!r} is registered twice; tool names must be unique")
        self._tools[item.name] = item
        return item

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Name, description and JSON Schema of each tool (all, or the named ones)."""
        if names is None:
            chosen = list(self._tools.values())
        else:
            wanted = list(names)
            unknown = [n for n in wanted if n not in self._tools]
            if unknown:
                raise UsageError(
                    f"no tool named {', '.join(map(repr, unknown))} is registered; "
                    f"registered tools: {', '.join(self.names) or '(none)'}"
                )
            chosen = [self._tools[n] for n in wanted]
        return [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in chosen
        ]
