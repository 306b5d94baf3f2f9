"""Tools from an OpenAPI 3.x document: one per operation, each calling it over HTTP.

An operation's arguments schema holds its path, query, header and cookie parameters and
its JSON request body (``body``), with every ``$ref`` inlined: the model sees the whole
shape, and the same schema checks its calls. OpenAPI 3.0's own dialect (``nullable``, a
boolean ``exclusiveMinimum``) is rewritten as the JSON Schema 2020-12 that 3.1 and the
validator speak.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx2

from proctor.errors import UsageError
from proctor.tools._openapi_http import Http, Operation, Param, is_json
from proctor.tools._openapi_refs import Refs
from proctor.tools._tool import Effect, Risk, Tool

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_READS = frozenset({"get", "head", "options"})
_IDEMPOTENT = _READS | {"put", "delete"}
_LOCATIONS = ("path", "query", "header", "cookie")  # also the order of the arguments
# OpenAPI ignores these header parameters: the client sets them (or `headers=` does).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")

_log = logging.getLogger("proctor.tools")

_Found = tuple[str, str, Mapping[str, Any], Mapping[str, Any]]  # method, path, item, operation


def openapi_tools(
    document: Mapping[str, Any],
    *,
    base_url: str | None,
    operations: Iterable[str] | None,
    prefix: str,
    effects: Mapping[str, Effect],
    risks: Mapping[str, Risk],
    headers: Mapping[str, str],
    client: httpx2.AsyncClient | None,
    timeout_s: float,
) -> list[Tool]:
    """The tools ``Registry.from_openapi`` registers (see there)."""
    version = document.get("openapi") if isinstance(document, Mapping) else None
    if not isinstance(version, str) or not version.startswith("3."):
        was = (
            document.get("swagger", version)
            if isinstance(document, Mapping)
            else type(document).__name__
        )
        raise UsageError(
            f"not an OpenAPI 3 document (its 'openapi' field: {was!r}): from_openapi reads "
            "OpenAPI 3.0 and 3.1; convert a Swagger 2.0 document first (e.g. swagger2openapi)"
        )
    paths = document.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise UsageError(
            "the OpenAPI document has no paths, so it describes no operation: pass the whole "
            "document (with its 'paths'), not a part of it"
        )
    refs = Refs(document)
    url = _base_url(document, base_url)
    found: dict[str, _Found] = {}
    for path, raw_item in paths.items():
        item = refs.deref(raw_item, str(path))
        for method in _METHODS:
            operation = item.get(method)
            if isinstance(operation, Mapping):
                op_id = str(operation.get("operationId") or _synthetic_id(method, str(path)))
                if op_id in found:
                    raise UsageError(f"two operations have the operationId {op_id!r}: rename one")
                found[op_id] = (method, str(path), item, operation)
    if isinstance(operations, str):  # one operationId, not its characters
        operations = [operations]
    chosen = list(dict.fromkeys(found if operations is None else operations))
    for label, names in (("operations", chosen), ("effects", effects), ("risks", risks)):
        unknown = sorted(set(names) - set(found))
        if unknown:
            raise UsageError(
                f"{label} names operations the document does not have: {', '.join(unknown)}; "
                f"its operations: {', '.join(found)}"
            )
    http = Http(client, timeout_s)
    tools: dict[str, Tool] = {}
    owners: dict[str, str] = {}
    for op_id in chosen:
        method, path, item, operation = found[op_id]
        where = f"{method.upper()} {path}"
        body = _body(refs, operation, where)
        if isinstance(body, str):  # a required body this cannot send
            if operations is None:
                _log.warning("OpenAPI operation %s (%s) left out: %s", op_id, where, body)
                continue
            raise UsageError(f"operation {op_id!r} ({where}) cannot be a tool: {body}")
        effect = effects.get(op_id, "read" if method in _READS else "write")
        # A header the caller's headers= set, or (for a write) the idempotency key the
        # runtime sets, is never the model's to choose.
        given = {name.lower() for name in headers} | (
            {"idempotency-key"} if effect == "write" else set()
        )
        params, properties, required = _arguments(refs, item, operation, where, given)
        declared = {p.name for p in params if p.location == "path"}
        missing = sorted(set(_TEMPLATE.findall(path)) - declared)
        if missing:
            raise UsageError(
                f"{where}: no path parameter describes {', '.join(missing)}; declare it "
                "in the operation's or the path's parameters"
            )
        if body is not None:
            properties["body"] = body[1]
            required += ["body"] if body[2] else []
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        name = _tool_name(prefix, op_id)
        if name in owners:
            raise UsageError(
                f"operations {owners[name]!r} and {op_id!r} both become the tool {name!r}: "
                "leave one out with operations=[...]"
            )
        owners[name] = op_id
        handler = Operation(
            operation_id=op_id,
            method=method,
            base_url=url,
            path=path,
            params=tuple(params),
            body_type=None if body is None else body[0],
            headers=dict(headers),
            write=effect == "write",
            http=http,
        )
        tools[name] = Tool.from_schema(
            name,
            schema,
            handler,
            description=_description(operation, where),
            effect=effect,
            risk=risks.get(op_id, "low"),
            idempotent=method in _IDEMPOTENT,
            timeout_s=timeout_s,
        )
    return list(tools.values())


def _arguments(
    refs: Refs,
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    where: str,
    given: set[str],
) -> tuple[list[Param], dict[str, Any], list[str]]:
    """The parameters (the path item's, overridden by name and place by the operation's),
    their schemas by argument name, and the required ones; ``body`` is kept for the body,
    and a header named in ``given`` (lowercase) is left out: something else sets it."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*item.get("parameters", ()), *operation.get("parameters", ())]:
        param = refs.deref(raw, where)
        name, location = param.get("name"), param.get("in")
        if not isinstance(name, str) or location not in _LOCATIONS:
            raise UsageError(f"{where}: each parameter needs a 'name' and an 'in' of {_LOCATIONS}")
        merged[(name, location)] = param
    skipped = _IGNORED_HEADERS | given
    params: list[Param] = []
    properties: dict[str, Any] = {}
    required: list[str] = []
    for (name, location), param in sorted(merged.items(), key=lambda p: _LOCATIONS.index(p[0][1])):
        if location == "header" and name.lower() in skipped:
            continue
        key = f"{location}_{name}" if name in properties or name == "body" else name
        raw_schema, as_json = param.get("schema"), False
        content = param.get("content")
        if raw_schema is None and isinstance(content, Mapping) and content:
            # A parameter described by a media type (always JSON in practice) is sent as JSON.
            raw_schema, as_json = next(iter(content.values())).get("schema"), True
        schema = refs.schema(raw_schema or {}, where)
        if isinstance(schema, dict) and param.get("description"):
            schema["description"] = param["description"]
        properties[key] = schema
        if location == "path" or param.get("required") is True:
            required.append(key)
        style = str(param.get("style", "form" if location in ("query", "cookie") else "simple"))
        explode = bool(param.get("explode", style == "form"))
        params.append(
            Param(
                key=key, name=name, location=location, style=style, explode=explode, as_json=as_json
            )
        )
    return params, properties, required


def _body(
    refs: Refs, operation: Mapping[str, Any], where: str
) -> tuple[str, Any, bool] | str | None:
    """The request body's JSON media type, schema and whether it is required; ``None``
    without a body (or an optional one that is not JSON), a reason for a required body
    that is not JSON (it cannot be sent)."""
    if "requestBody" not in operation:
        return None
    body = refs.deref(operation["requestBody"], where)
    content = body.get("content") or {}
    media = next((m for m in content if is_json(m)), None)
    if media is None:
        if not body.get("required"):
            return None
        return f"its request body is {', '.join(content) or 'empty'}, and only JSON is sent"
    schema = refs.schema(content[media].get("schema") or {}, where)
    if isinstance(schema, dict) and body.get("description") and "description" not in schema:
        schema["description"] = body["description"]
    return media, schema, bool(body.get("required"))


def _base_url(document: Mapping[str, Any], base_url: str | None) -> str:
    url, said = base_url, f"base_url is {base_url!r}"
    if url is None:
        servers = document.get("servers")
        server = servers[0] if isinstance(servers, list) and servers else None
        url = str(server.get("url") or "") if isinstance(server, Mapping) else ""
        variables = server.get("variables") if isinstance(server, Mapping) else None
        for name, variable in (variables or {}).items():  # {region} and such: their defaults
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        said = f"its first server's URL is {url!r}" if url else "it names no server"
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"no absolute base URL for the OpenAPI document's operations ({said}): pass "
            "base_url='https://api.example.com/v1' (where its paths start)"
        )
    return url.rstrip("/")


def _synthetic_id(method: str, path: str) -> str:
    """A name for an operation without an operationId: ``GET /orders/{id}`` is
    ``get_orders_by_id``."""
    parts = [method]
    for segment in filter(None, path.split("/")):
        parts.append(_TEMPLATE.sub(lambda m: f"by_{m.group(1)}", segment))
    return "_".join(parts)


def _tool_name(prefix: str, op_id: str) -> str:
    """``prefix`` + ``op_id`` as a tool name: characters a name cannot hold become '_',
    and a part that starts with no letter gets an ``op_`` before it."""
    parts = [_NOT_NAME.sub("_", part) for part in op_id.split(".")]
    return prefix + ".".join(p if re.match("[A-Za-z]", p) else f"op_{p}" for p in parts)


def _description(operation: Mapping[str, Any], where: str) -> str:
    texts = [str(operation.get(k) or "").strip() for k in ("summary", "description")]
    text = "\n\n".join(dict.fromkeys(t for t in texts if t)) or where
    return f"Deprecated. {text}" if operation.get("deprecated") else text
