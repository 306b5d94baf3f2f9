"""Typed tools: a callable plus the schema and metadata that govern it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from proctor.errors import UsageError
from proctor.tools._credential import NoCredential, ToolCredential
from proctor.tools._schema import SchemaValidator, object_schema, takes_context

Effect: TypeAlias = Literal["read", "write"]
Risk: TypeAlias = Literal["low", "medium", "high"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$")


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """What a tool receives about the call it serves.

    ``idempotency_key`` is stable across resumes (run id + step): a write tool should
    hand it to the system it writes to, so a retried call is recognised there.
    ``credential`` holds the rights the contract grants this call: check them with
    ``ctx.credential.require(action, resource=..., amount=...)`` before acting.
    """

    run_id: str
    call_id: str
    step: int
    idempotency_key: str
    logger: logging.Logger
    credential: ToolCredential = field(default_factory=NoCredential)


class ToolArgumentsError(ValueError):
    """The model's arguments do not match the tool's schema."""

    def __init__(self, tool: str, errors: list[str]) -> None:
        self.tool = tool
        self.errors = errors
        super().__init__(f"invalid arguments for {tool}: " + "; ".join(errors))


@dataclass(kw_only=True)
class Tool:
    """A registered tool. Build one with ``@tool``, ``Tool.from_function`` or, for a tool
    another system describes, ``Tool.from_schema``."""

    name: str
    description: str
    function: Callable[..., Any]
    args_model: type[BaseModel] | None = None
    """The arguments' model (a typed function's); ``None``: ``parameters`` validates."""
    effect: Effect = "read"
    risk: Risk = "low"
    idempotent: bool = False
    timeout_s: float = 30.0
    cacheable: bool = False
    """Deterministic output (a price table, a policy snippet): results may be cached."""
    cache_ttl_s: float = 300.0
    takes_context: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise UsageError(
                f"tool name {self.name!r} is not valid: use dotted identifiers "
                "such as 'erp.fetch_po' (letters, digits, '_' and '-' in each part)"
            )
        if self.cacheable and self.effect == "write":
            raise UsageError(
                f"tool {self.name!r} is a write tool and cannot be cacheable: a cached write "
                "would report an effect that never happened"
            )
        self._schema: SchemaValidator | None = None
        if self.args_model is not None:
            if not self.parameters:
                self.parameters = self.args_model.model_json_schema()
                self.parameters.pop("title", None)
        else:
            self.parameters = object_schema(self.name, self.parameters)
            self._schema = SchemaValidator(self.parameters)
        # An object whose __call__ is async is awaited too (a bound connector's call).
        call = type(self.function).__call__ if not inspect.isroutine(self.function) else None
        self._is_async = inspect.iscoroutinefunction(self.function) or (
            call is not None and inspect.iscoroutinefunction(call)
        )

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        effect: Effect = "read",
        risk: Risk = "low",
        idempotent: bool = False,
        timeout_s: float = 30.0,
        cacheable: bool = False,
        cache_ttl_s: float = 300.0,
    ) -> Tool:
        """Build a tool from a typed function; its schema comes from the type hints."""
        args_model, takes_context, arg_docs = _signature_model(function)
        summary, _ = _split_docstring(inspect.getdoc(function) or "")
        for arg, doc in arg_docs.items():
            # The docstring may document arguments that are not in the schema (the context).
            if arg in args_model.model_fields:
                args_model.model_fields[arg].description = (
                    args_model.model_fields[arg].description or doc
                )
        args_model.model_rebuild(force=True)
        return cls(
            name=name or function.__name__,
            description=description or summary,
            function=function,
            args_model=args_model,
            effect=effect,
            risk=risk,
            idempotent=idempotent,
            timeout_s=timeout_s,
            cacheable=cacheable,
            cache_ttl_s=cache_ttl_s,
            takes_context=takes_context,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        json_schema: dict[str, Any] | None,
        handler: Callable[..., Any],
        *,
        description: str = "",
        effect: Effect = "read",
        risk: Risk = "low",
        idempotent: bool = False,
        timeout_s: float = 30.0,
        cacheable: bool = False,
        cache_ttl_s: float = 300.0,
    ) -> Tool:
        """A tool whose arguments ``json_schema`` describes (an object schema; shown to the
        model and checked on every call, as given).

        ``handler`` receives the arguments as one mapping, ``handler(arguments)``, or
        ``handler(context, arguments)`` to get the ``ToolContext``; it may be async.
        """
        return cls(
            name=name,
            description=description,
            function=handler,
            parameters=dict(json_schema or {}),
            effect=effect,
            risk=risk,
            idempotent=idempotent,
            timeout_s=timeout_s,
            cacheable=cacheable,
            cache_ttl_s=cache_ttl_s,
            takes_context=takes_context(name, handler),
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate and coerce ``arguments``; raise ``ToolArgumentsError`` listing every problem."""
        if self.args_model is None:
            assert self._schema is not None
            problems = self._schema.problems(arguments)
            if problems:
                raise ToolArgumentsError(self.name, problems)
            return dict(arguments)
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolArgumentsError(self.name, _describe(exc)) from None
        return {name: getattr(model, name) for name in self.args_model.model_fields}

    async def run(
        self, context: ToolContext, arguments: dict[str, Any], *, timeout_s: float | None = None
    ) -> Any:
        """Run with validated arguments and return a JSON-ready result.

        Raises ``TimeoutError`` after ``timeout_s`` (default: the tool's own). Sync
        functions run in a worker thread so the timeout can fire and the loop stays free.
        """
        args = (context,) if self.takes_context else ()
        async with asyncio.timeout(self.timeout_s if timeout_s is None else timeout_s):
            if self._schema is not None:  # a schema tool takes its arguments as one mapping
                if self._is_async:
                    result = await self.function(*args, arguments)
                else:
                    result = await asyncio.to_thread(self.function, *args, arguments)
            elif self._is_async:
                result = await self.function(*args, **arguments)
            else:
                result = await asyncio.to_thread(self.function, *args, **arguments)
        return to_jsonable_python(result)


def tool(
    name: str | None = None,
    *,
    description: str | None = None,
    effect: Effect = "read",
    risk: Risk = "low",
    idempotent: bool = False,
    timeout_s: float = 30.0,
    cacheable: bool = False,
    cache_ttl_s: float = 300.0,
) -> Callable[[Callable[..., Any]], Tool]:
    """Declare a function as a tool.

    Example::

        @tool("erp.fetch_po", effect="read")
        def fetch_po(po_number: str) -> dict[str, object]:
            '''Fetch a purchase order.'''
    """

    def decorate(function: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            function,
            name=name,
            description=description,
            effect=effect,
            risk=risk,
            idempotent=idempotent,
            timeout_s=timeout_s,
            cacheable=cacheable,
            cache_ttl_s=cache_ttl_s,
        )

    return decorate


def _signature_model(
    function: Callable[..., Any],
) -> tuple[type[BaseModel], bool, dict[str, str]]:
    hints = get_type_hints(function, include_extras=True)
    params = list(inspect.signature(function).parameters.values())
    takes_context = bool(params) and hints.get(params[0].name) is ToolContext
    if takes_context:
        params = params[1:]
    fields: dict[str, Any] = {}
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UsageError(
                f"tool {function.__name__}: *args/**kwargs cannot be described by a schema; "
                "declare each argument"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise UsageError(
                f"tool {function.__name__}: argument {param.name!r} is positional-only, but "
                "tools are called with keyword arguments; remove the '/' from the signature"
            )
        if param.name not in hints:
            raise UsageError(
                f"tool {function.__name__}: argument {param.name!r} has no type hint; "
                "every argument needs one so its schema can be generated"
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    model = create_model(
        f"{function.__name__}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    _, arg_docs = _split_docstring(inspect.getdoc(function) or "")
    return model, takes_context, arg_docs


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Return the summary and the Google-style ``Args:`` descriptions of a docstring."""
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for raw in doc.splitlines():
        line = raw.strip()
        if line in ("Args:", "Arguments:", "Parameters:"):
            section = "args"
            continue
        if line.endswith(":") and " " not in line:
            section = "other"
            continue
        if section is None:
            summary_lines.append(line)
        elif section == "args" and line:
            match = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
            if match and raw.startswith(("    ", "\t")) and not raw.startswith("        "):
                current = match.group(1)
                args[current] = match.group(2)
            elif current:
                args[current] = f"{args[current]} {line}".strip()
    return " ".join(part for part in summary_lines if part).strip(), args


def _describe(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        problems.append(f"{where}: {error['msg']}")
    return problems


# Field is re-exported so tool authors can describe arguments with Annotated[..., Field(...)].
__all__ = ["Effect", "Field", "Risk", "Tool", "ToolArgumentsError", "ToolContext", "tool"]
