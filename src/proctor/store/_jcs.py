"""RFC 8785 (JSON Canonicalization Scheme): the bytes keyed chains hash.

A standard form, so an auditor recomputes every hash with any JCS library (Python's
``rfc8785``, JavaScript's ``canonicalize``) and SHA-256, without Proctor's code.

orjson writes the same bytes as JCS for nearly every value: keys sorted, no whitespace,
UTF-8, the same string escapes, shortest round-trip numbers. It differs only for some
numbers (``1.0`` where JCS writes ``1``; exponents below 1e-5 and from 1e16, where JCS
writes digits) and for the order of keys holding characters beyond U+FFFF (JCS sorts by
UTF-16 code units). The fast path looks for those in orjson's output with substring
tests; only then is the value walked (integral floats become ints, for orjson to write
again), and an exponent or such a key (rare) sends it the slow way, serialised here. The
journal skips even the tests for event types whose fields hold no float
(``plain_fields``). One deliberate extension: integers beyond 2^53 are written exactly,
as their digits (JCS would round them through a double).
"""

from __future__ import annotations

import hashlib
import types
import typing
from typing import Any

import orjson
import rfc8785

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class _Unusual(Exception):
    """A value orjson writes otherwise than JCS, and that ``_normal`` cannot fix."""


def jcs(value: Any) -> bytes:
    """``value`` in RFC 8785 canonical form (integers beyond 2^53 kept exact)."""
    out = orjson.dumps(value, option=_OPTIONS)
    # Substring tests run in C (a few hundred nanoseconds for an event's fields). A match
    # inside a string ("e-mail", "v1.0,") only costs the walk below, which is always right.
    if not (
        b".0," in out
        or b".0}" in out
        or b".0]" in out
        or out.endswith(b".0")
        or b"e-" in out
        or b"e+" in out
        or (not out.isascii() and any(lead in out for lead in _ASTRAL_LEADS))
    ):
        return out
    try:
        return orjson.dumps(_normal(value, 0), option=_OPTIONS)
    except _Unusual:
        return "".join(_write(value)).encode()


# UTF-8 lead bytes of the characters beyond U+FFFF.
_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")


def _normal(value: Any, depth: int) -> Any:
    """``value`` with each integral float as an int (orjson then writes it as JCS does),
    rebuilt only where one was found; ``_Unusual`` for a float orjson writes with an
    exponent (JCS may not), or a key beyond U+FFFF (JCS orders by UTF-16 units)."""
    kind = type(value)
    if kind is float:
        if value.is_integer():
            if abs(value) < 2**53:
                return int(value)
            raise _Unusual
        if not 1e-5 <= abs(value) < 1e16:
            raise _Unusual
        return value
    if kind is dict:
        if depth > MAX_DEPTH:
            raise _Unusual
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            if not key.isascii() and max(key) > "\uffff":
                raise _Unusual
            if type(item) in _SCALARS:
                continue
            fixed = _normal(item, depth + 1)
            if fixed is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = fixed
        return value if changed is None else changed
    if kind is list or kind is tuple:
        if depth > MAX_DEPTH:
            raise _Unusual
        items = [_normal(item, depth + 1) for item in value]
        same = all(a is b for a, b in zip(items, value, strict=True))
        return value if same else items
    return value


MAX_DEPTH = 64
"""Deeper values take the slow (iterative) way."""
_SCALARS = frozenset({str, int, bool, type(None)})


def standard_digest(value: Any) -> str:
    """SHA-256 hex digest of ``value``'s RFC 8785 form (a keyed chain's content digest)."""
    return hashlib.sha256(jcs(value)).hexdigest()


def standard_chain_hash(prev_hash: str, metadata: dict[str, Any], *, plain: bool = False) -> str:
    """``sha256(prev_hash + jcs(metadata))``: a keyed chain's event hash. ``plain``: the
    caller knows orjson writes ``metadata`` as JCS does (no float in it but an ordinary
    ``ts``; see ``plain_fields``), so the checks are skipped."""
    canonical = orjson.dumps(metadata, option=_OPTIONS) if plain else jcs(metadata)
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


def ordinary_float(value: float) -> bool:
    """Whether orjson writes ``value`` as JCS does (not integral, no exponent)."""
    return not value.is_integer() and 1e-5 <= abs(value) < 1e16


def ordinary_value(value: Any) -> bool:
    """Whether orjson writes ``value`` as JCS does (checked by walking it)."""
    if value is None or type(value) in _SCALARS:
        return True
    if type(value) is float:
        return ordinary_float(value)
    try:
        return _normal(value, 0) is value
    except _Unusual:
        return False


def ordinary_fields(values: dict[str, Any], names: tuple[str, ...]) -> bool:
    """Whether orjson writes each of ``values``' fields ``names`` as JCS does (the checks
    of ``ordinary_value``, inlined: the journal asks once per event)."""
    for name in names:
        value: Any = values.get(name)
        kind = type(value)
        if kind is float:
            if value.is_integer() or not 1e-5 <= abs(value) < 1e16:
                return False
        elif value is not None and kind not in _SCALARS and not ordinary_value(value):
            return False
    return True


def plain_fields(annotation: Any) -> bool:
    """Whether values of this type annotation hold only text, integers, booleans and
    nulls (lists of them too): orjson then writes them as JCS does."""
    if annotation in (str, int, bool, type(None)):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return all(isinstance(arg, str | int | bool) for arg in typing.get_args(annotation))
    if origin in (list, tuple, typing.Union, types.UnionType):
        return all(arg is Ellipsis or plain_fields(arg) for arg in typing.get_args(annotation))
    return False


def _write(value: Any) -> list[str]:
    parts: list[str] = []
    stack: list[Any] = [value]
    # Iterative, so deep values cannot exhaust the interpreter's stack.
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            parts.append(item.text)
        elif isinstance(item, str):
            parts.append(orjson.dumps(item).decode())
        elif item is None or isinstance(item, bool):
            parts.append("null" if item is None else "true" if item else "false")
        elif isinstance(item, int):
            parts.append(str(item))
        elif isinstance(item, float):
            parts.append(rfc8785.dumps(item).decode())
        elif isinstance(item, dict):
            keys = sorted(item, key=lambda key: str(key).encode("utf-16-be"))
            pending: list[Any] = [_Raw("{")]
            for index, key in enumerate(keys):
                if index:
                    pending.append(_Raw(","))
                pending.extend((str(key), _Raw(":"), item[key]))
            pending.append(_Raw("}"))
            stack.extend(reversed(pending))
        elif isinstance(item, list | tuple):
            pending = [_Raw("[")]
            for index, child in enumerate(item):
                if index:
                    pending.append(_Raw(","))
                pending.append(child)
            pending.append(_Raw("]"))
            stack.extend(reversed(pending))
        else:
            raise TypeError(f"{type(item).__name__} is not a JSON value")
    return parts


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
