"""The registry: the only tools a run can call."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from proctor.errors import UsageError
from proctor.tools._tool import Tool


class Registry:
    """A named set of tools. Anything not registered here cannot be called."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

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
