"""The fields of a tool's results, where its function's return type declares them.

A ``Tool`` carries a JSON schema for its arguments only. Its results' fields are known
when the function is annotated with a type that has named fields (a pydantic model, a
dataclass, a ``TypedDict``, a list or an optional of one); for ``dict[str, Any]`` and
anything else they are not, and nothing can be checked against them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import PydanticUserError, TypeAdapter

if TYPE_CHECKING:
    from proctor.tools import Tool


def result_fields(tool: Tool) -> list[str] | None:
    """The top-level field names of ``tool``'s results (lists walked through), or ``None``
    when its return type does not declare them."""
    try:
        returns = get_type_hints(tool.function).get("return")
    except (NameError, TypeError, AttributeError):
        return None  # an annotation that cannot be resolved here: nothing to check
    if returns is None:
        return None
    try:
        schema = TypeAdapter(returns).json_schema()
    except PydanticUserError:  # a type pydantic cannot describe: nothing to check
        return None
    return _fields(schema, schema.get("$defs", {}), depth=0)


def _fields(node: Any, defs: dict[str, Any], *, depth: int) -> list[str] | None:
    if not isinstance(node, dict) or depth > 8:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _fields(defs.get(ref.removeprefix("#/$defs/")), defs, depth=depth + 1)
    if node.get("type") == "array":
        return _fields(node.get("items"), defs, depth=depth + 1)
    options = node.get("anyOf")
    if isinstance(options, list):
        found: list[str] = []
        for option in options:
            if isinstance(option, dict) and option.get("type") == "null":
                continue
            fields = _fields(option, defs, depth=depth + 1)
            if fields is None:
                return None  # one option is open: any field may come back
            found.extend(fields)
        return list(dict.fromkeys(found)) or None
    properties = node.get("properties")
    if node.get("type") != "object" or not isinstance(properties, dict):
        return None
    extra = node.get("additionalProperties")
    if extra is not None and extra is not False:
        return None
    return list(properties)
