"""The registry: the only tools a run can call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from proctor.errors import UsageError
from proctor.tools._tool import Effect, Risk, Tool

if TYPE_CHECKING:
    import httpx2


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

    @classmethod
    def from_openapi(
        cls,
        document: Mapping[str, Any],
        *,
        base_url: str | None = None,
        operations: Iterable[str] | None = None,
        prefix: str = "",
        effects: Mapping[str, Effect] | None = None,
        risks: Mapping[str, Risk] | None = None,
        headers: Mapping[str, str] | None = None,
        client: httpx2.AsyncClient | None = None,
        timeout_s: float = 30.0,
    ) -> Registry:
        """A tool for each operation of an OpenAPI 3.0 or 3.1 ``document`` (a parsed
        JSON or YAML mapping), each calling the operation over HTTP.

        A tool is named ``prefix`` + the operation's ``operationId`` (without one: method
        and path, ``get_orders_by_id``); ``operations`` picks some by that id. Its
        arguments are the operation's parameters by name and ``body``, the JSON request
        body, every ``$ref`` inlined. GET, HEAD and OPTIONS are reads, other methods
        writes, unless ``effects[operationId]`` says otherwise; a write sends the call's
        idempotency key as ``Idempotency-Key``. ``headers`` (credentials) go with every
        request, and the model never supplies a header they name. A call returns the
        response's JSON, or its text; a status other than 2xx is the tool's error.

        Requests go to ``base_url``, else the document's first server, through ``client``
        (its owner closes it) or a client made on first use in each event loop (closed
        as the loop shuts down). An operation whose required body is not JSON is left
        out, or refused when ``operations`` names it.
        """
        from proctor.tools._openapi import openapi_tools  # imports httpx2: only when used

        return cls(
            openapi_tools(
                document,
                base_url=base_url,
                operations=operations,
                prefix=prefix,
                effects=effects or {},
                risks=risks or {},
                headers=headers or {},
                client=client,
                timeout_s=timeout_s,
            )
        )

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
