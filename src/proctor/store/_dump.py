"""Event data as JSON-ready dicts, without pydantic's serializer where that is safe.

``model_dump(mode="json")`` costs 2-5 µs an event; most of what an event holds is
already JSON (text, numbers, flags, dicts from the model or a tool), so ``split`` takes
the fields as they are and checks, in C, that the result is what the serializer would
have made: every typed number is of its exact type (the serializer turns an ``int`` in a
``float`` field into a float), and content round-trips through orjson unchanged (no
tuple, enum, subclass, date, NaN, non-text key, integer beyond 64 bits). Anything else
takes ``model_dump``, so the dicts, and therefore every hash over them, are the same
either way. The content's JSON comes back too: the journal gives it to the redactor and
stores it, instead of encoding it twice more.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel

# Types orjson would otherwise write its own way (a date, a str subclass such as an enum,
# a dataclass) go to ``default``, which is not given: they raise, and take the slow way.
_STRICT = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
_STRICT |= orjson.OPT_PASSTHROUGH_DATACLASS
_SCALARS = {str: str, int: int, bool: bool, float: float, type(None): type(None)}


class _Slow(Exception):
    """This value must go through pydantic's serializer."""


Dump = Callable[[Any], dict[str, Any]]
"""A model instance's fields as ``model_dump(mode="json")`` gives them (or ``_Slow``)."""


@dataclass(frozen=True, slots=True)
class Split:
    """Event data as the journal hashes and stores it."""

    meta: dict[str, Any]
    content: dict[str, Any]
    meta_json: bytes | None
    """``meta`` as orjson writes it (keys in field order, as stored); ``None`` if not
    made here."""
    content_json: bytes | None
    """The same for ``content`` (``None`` also when there is no content)."""


def split(data: BaseModel, content_fields: frozenset[str]) -> Split:
    """Split event data into metadata and content, as ``model_dump(mode="json")`` would."""
    plan = _plan(type(data))
    if plan is not None:
        dump, meta_is_plain = plan
        try:
            meta = dump(data)
            content = {name: meta.pop(name) for name in content_fields}
            meta_json = orjson.dumps(meta, option=_STRICT)
            if not meta_is_plain and orjson.loads(meta_json) != meta:
                raise _Slow
            if not content:
                return Split(meta, content, meta_json, None)
            content_json = orjson.dumps(content, option=_STRICT)
            copy = orjson.loads(content_json)  # fresh objects, as the serializer's are
            if copy == content:
                return Split(meta, copy, meta_json, content_json)
        except (_Slow, TypeError):  # orjson's errors are TypeErrors
            pass
    meta = data.model_dump(mode="json")
    return Split(meta, {name: meta.pop(name) for name in content_fields}, None, None)


@dataclass(frozen=True, slots=True)
class _Scalar:
    types: frozenset[type]


@dataclass(frozen=True, slots=True)
class _Model:
    model: type[BaseModel]
    many: bool


_JSON = object()
"""A field whose value the round trip checks (text lists, ``Any``, dicts of them)."""


@functools.cache
def _plan(kind: type[BaseModel]) -> tuple[Dump, bool] | None:
    """How to dump ``kind`` without its serializer, and whether its metadata is plain
    (needs no round trip), or ``None`` if it cannot be done."""
    decorators = kind.__pydantic_decorators__
    if (
        decorators.field_serializers
        or decorators.model_serializers
        or kind.model_computed_fields
        or kind.model_config.get("extra") == "allow"
        or any(info.exclude for info in kind.model_fields.values())
    ):
        return None
    exact: list[tuple[str, frozenset[type]]] = []
    nested: list[tuple[str, type[BaseModel], Dump, bool]] = []
    content: frozenset[str] = getattr(kind, "content_fields", frozenset())
    plain = True
    for name, info in kind.model_fields.items():
        shape = _shape(info.annotation)
        if shape is None:
            return None
        if isinstance(shape, _Scalar):
            if shape.types & {int, float}:  # the types the serializer converts
                exact.append((name, shape.types))
        elif isinstance(shape, _Model):
            sub = _plan(shape.model)
            if sub is None:
                return None
            nested.append((name, shape.model, sub[0], shape.many))
            plain = plain and (sub[1] or name in content)
        elif name not in content:
            plain = False
    fields = tuple(exact)
    models = tuple(nested)

    def dump(value: Any) -> dict[str, Any]:
        out = dict(value.__dict__)
        for name, allowed in fields:
            if type(out[name]) not in allowed:
                raise _Slow
        for name, model, sub, many in models:
            item = out[name]
            if item is None:
                continue
            if many:
                if type(item) is not list:
                    raise _Slow
                out[name] = [_one(model, sub, element) for element in item]
            else:
                out[name] = _one(model, sub, item)
        return out

    return dump, plain


def _one(model: type[BaseModel], dump: Dump, value: Any) -> dict[str, Any]:
    if type(value) is not model:  # a subclass is serialized as its field's type: slow way
        raise _Slow
    return dump(value)


def _shape(annotation: Any) -> _Scalar | _Model | object | None:
    """What a field of this annotation holds, or ``None`` if not known here."""
    if annotation in _SCALARS:
        return _Scalar(frozenset({_SCALARS[annotation]}))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Model(annotation, many=False)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        kinds = frozenset(type(arg) for arg in args)
        return _Scalar(kinds) if kinds <= {str, int, bool} else None
    if origin in (typing.Union, types.UnionType):
        shapes = [_shape(arg) for arg in args]
        scalars = [shape for shape in shapes if isinstance(shape, _Scalar)]
        if len(scalars) == len(shapes):
            return _Scalar(frozenset().union(*(shape.types for shape in scalars)))
        if len(args) == 2 and type(None) in args:  # ``Model | None``
            other = shapes[0] if args[1] is type(None) else shapes[1]
            return other if isinstance(other, _Model) and not other.many else None
        return None
    if origin is list and len(args) == 1:
        inner = _shape(args[0])
        if isinstance(inner, _Model) and not inner.many:
            return _Model(inner.model, many=True)
    if annotation is Any or origin in (list, dict):
        # Text and JSON of no declared shape only: a typed number in a container (a
        # ``dict[str, float]``) may be an int the serializer would convert.
        return None if _holds_numbers(annotation) else _JSON
    return None


def _holds_numbers(annotation: Any) -> bool:
    if annotation in (int, float) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    ):
        return True
    return any(_holds_numbers(arg) for arg in typing.get_args(annotation))
