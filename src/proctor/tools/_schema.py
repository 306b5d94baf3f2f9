"""Tools described by a JSON Schema rather than a typed function: what another system
already describes (an MCP server, OpenAI function specs, an OpenAPI document).

The schema the model is shown is the one that validates its arguments (JSON Schema draft
2020-12 unless the schema names another, with ``jsonschema_rs``: about a microsecond a
call), so no second description can drift from the first.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs

from proctor.errors import UsageError


def object_schema(tool: str, schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``schema`` as a tool's arguments schema: an object (an empty or missing schema is
    an object without properties); ``UsageError`` if it is not one, or not valid."""
    document = dict(schema or {})
    if not document:
        document = {"type": "object", "properties": {}}
    kind = document.get("type", "object")
    if kind != "object":
        raise UsageError(
            f"tool {tool!r}: its arguments schema has type {kind!r}, but a tool's arguments "
            "are an object (named arguments). Fix: wrap it as "
            '{"type": "object", "properties": {"value": <the schema>}}'
        )
    document.setdefault("type", "object")
    try:
        jsonschema_rs.validator_for(document)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(
            f"tool {tool!r}: its arguments schema is not valid JSON Schema: {first}"
        ) from None
    return document


class SchemaValidator:
    """Checks arguments against a tool's JSON Schema, listing every problem."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = jsonschema_rs.validator_for(schema)

    def problems(self, arguments: Any) -> list[str]:
        if self._validator.is_valid(arguments):  # the common case: no error objects built
            return []
        return [
            f"{'.'.join(str(part) for part in error.instance_path) or '(arguments)'}: "
            f"{error.message}"
            for error in self._validator.iter_errors(arguments)
        ]


def takes_context(tool: str, handler: Callable[..., Any]) -> bool:
    """Whether a schema tool's handler is ``handler(context, arguments)`` rather than
    ``handler(arguments)``; ``UsageError`` for any other shape."""
    try:
        parameters = [
            p
            for p in inspect.signature(handler).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):  # a builtin without a signature: one argument
        return False
    if len(parameters) not in (1, 2):
        raise UsageError(
            f"tool {tool!r}: its handler takes {len(parameters)} positional argument(s); a "
            "schema tool's handler takes the arguments as one mapping, handler(arguments), "
            "or handler(context, arguments) to receive the ToolContext"
        )
    return len(parameters) == 2
