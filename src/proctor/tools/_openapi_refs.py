"""``$ref`` resolution for OpenAPI documents: schemas inlined (a recursive one cut off after
a few levels), and OpenAPI 3.0's schema dialect rewritten as JSON Schema 2020-12."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from proctor.errors import UsageError

# Inlining copies a schema wherever it is referred to, so a large API's interlinked
# schemas could grow without end: a $ref is left unexpanded (any value passes there) when
# its schema already nests inside itself this often, when this many $refs enclose it, or
# once one schema has inlined this many $refs.
_RECURSION = 2
_DEPTH = 10
_BUDGET = 256
# Keywords whose values are data, not schemas: a "$ref" inside one is left alone.
_LITERAL = frozenset({"enum", "const", "default", "example", "examples", "required"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})


class Refs:
    """Resolves the document's ``$ref``s (``#/...`` JSON pointers into it)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document
        self._inlined = 0

    def lookup(self, ref: str, where: str) -> Any:
        if not ref.startswith("#"):
            raise UsageError(
                f"{where}: $ref {ref!r} points outside the document; bundle the document "
                "into one file first (e.g. redocly bundle)"
            )
        node: Any = self._document
        for raw in ref[1:].split("/")[1:]:
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise UsageError(
                    f"{where}: $ref {ref!r} points at nothing in the document; define it "
                    "(under components) or correct the reference"
                )
        return node

    def deref(self, node: Any, where: str) -> Mapping[str, Any]:
        """A parameter, request body or path item, following its ``$ref``s."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            if node["$ref"] in seen:
                raise UsageError(f"{where}: $ref {node['$ref']!r} refers to itself")
            seen.add(node["$ref"])
            node = self.lookup(node["$ref"], where)
        if not isinstance(node, Mapping):
            raise UsageError(f"{where}: expected an object in the document, found {node!r}")
        return node

    def schema(self, node: Any, where: str) -> Any:
        """``node`` with its ``$ref``s inlined (within the limits above) and 3.0's dialect
        rewritten."""
        self._inlined = 0
        return self._inline(node, where, ())

    def _inline(self, node: Any, where: str, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, where, stack) for item in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            why = self._left_out(ref, stack)
            if why is not None:
                name = ref.rsplit("/", 1)[-1]
                return {"description": f"a {name}: not expanded further ({why})"}
            self._inlined += 1
            target = self._inline(self.lookup(ref, where), where, (*stack, ref))
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not siblings or not isinstance(target, dict):
                return target
            return {**target, **self._inline(siblings, where, stack)}  # 3.1: siblings apply
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _LITERAL:
                out[key] = value
            elif key in _SCHEMA_MAPS and isinstance(value, Mapping):
                out[key] = {name: self._inline(v, where, stack) for name, v in value.items()}
            else:
                out[key] = self._inline(value, where, stack)
        return _dialect(out)

    def _left_out(self, ref: str, stack: tuple[str, ...]) -> str | None:
        """Why the schema ``ref`` names is not inlined here, if it is not."""
        if stack.count(ref) >= _RECURSION:
            return "recursive"
        if len(stack) >= _DEPTH:
            return "nested too deep"
        if self._inlined >= _BUDGET:
            return "the schema is too large"
        return None


def _dialect(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0's schema keywords as JSON Schema 2020-12 (a 3.1 schema passes as is)."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # 3.0: a flag on minimum/maximum; 2020-12: the bound itself
        if isinstance(schema.get(exclusive), bool) and schema.pop(exclusive) and bound in schema:
            schema[exclusive] = schema.pop(bound)
    if schema.pop("nullable", False) is not True:
        return schema
    kind = schema.get("type")
    if kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    schema["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema
