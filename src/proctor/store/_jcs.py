"""RFC 8785 (JSON Canonicalization Scheme): the bytes keyed chains hash.

A standard form, so an auditor recomputes every hash with any JCS library (Python's
``rfc8785``, JavaScript's ``canonicalize``) and SHA-256, without Proctor's code.

orjson writes the same bytes as JCS for nearly every value: keys sorted, no whitespace,
UTF-8, the same string escapes, shortest round-trip numbers. It differs only for some
numbers (``1.0`` where JCS writes ``1``, exponents, ``-0.0``) and for the order of keys
holding characters beyond U+FFFF (JCS sorts by UTF-16 code units). The fast path checks
orjson's output for those cases (one regex scan, ~0.3 µs for an event) and only then
serialises the value again here. One deliberate extension: integers beyond 2^53 are
written exactly, as their digits (JCS would round them through a double).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
import rfc8785

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS

# A float orjson writes as integral (`2.0`), with an exponent (`1e-7`), or a 4-byte UTF-8
# sequence (a character beyond U+FFFF, which may reorder keys). A match inside a string
# only sends the value the slow way, which is always right.
_MAYBE_DIFFERENT = re.compile(rb"[0-9](?:\.0(?![0-9])|e)|[\xf0-\xf4]")


def jcs(value: Any) -> bytes:
    """``value`` in RFC 8785 canonical form (integers beyond 2^53 kept exact)."""
    out = orjson.dumps(value, option=_OPTIONS)
    if _MAYBE_DIFFERENT.search(out) is None:
        return out
    return "".join(_write(value)).encode()


def standard_digest(value: Any) -> str:
    """SHA-256 hex digest of ``value``'s RFC 8785 form (a keyed chain's content digest)."""
    return hashlib.sha256(jcs(value)).hexdigest()


def standard_chain_hash(prev_hash: str, metadata: dict[str, Any]) -> str:
    """``sha256(prev_hash + jcs(metadata))``: a keyed chain's event hash."""
    return hashlib.sha256(prev_hash.encode() + jcs(metadata)).hexdigest()


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
