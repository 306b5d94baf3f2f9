"""Canonical JSON and digests: the bytes every hash in Proctor is computed over."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal values always give equal bytes."""
    return orjson.dumps(value, option=_OPTIONS)


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def keyed_digest(key: bytes, value: Any) -> str:
    """HMAC-SHA256 hex digest of the canonical JSON of ``value`` under ``key``: a digest of
    content that cannot be reversed by guessing the content (a masked card number, an
    address) without the key."""
    return hmac.new(key, canonical_json(value), hashlib.sha256).hexdigest()


def chain_hash(prev_hash: str, metadata: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(metadata))``, as DESIGN.md defines it."""
    return hashlib.sha256(prev_hash.encode() + canonical_json(metadata)).hexdigest()


GENESIS_HASH = "0" * 64


MAX_JSON_DEPTH = 128
"""Deepest nesting a stored value may have (canonical JSON refuses beyond about 250)."""

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def json_value_problem(value: Any, *, where: str = "value") -> str | None:
    """Why ``value`` cannot be stored and hashed as JSON, or ``None`` if it can.

    Canonical JSON holds finite numbers, integers within 64 bits, text without lone
    surrogates, string keys, and at most ``MAX_JSON_DEPTH`` levels of nesting. Anything
    else would be stored as something it is not (NaN as null) or fail deep inside a
    write, so callers refuse it at the edge with this message, which names the place.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"{where} is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, str):
            if not _utf8(item):
                return f"{path} holds a lone surrogate (text that is not valid Unicode)"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                return f"{path} is an integer beyond 64 bits; send it as a string"
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return f"{path} is {item}, which JSON cannot hold; send a finite number"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"{path} has a key that is not a string ({key!r})"
                if not _utf8(key):
                    return f"{path} has a key with a lone surrogate (not valid Unicode)"
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            return f"{path} is a {type(item).__name__}, which is not a JSON value"
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
