"""Canonical JSON and digests: the bytes every hash in Proctor is computed over."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: equal values always give equal bytes."""
    return orjson.dumps(value, option=_OPTIONS)


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def chain_hash(prev_hash: str, metadata: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(metadata))``, as DESIGN.md defines it."""
    return hashlib.sha256(prev_hash.encode() + canonical_json(metadata)).hexdigest()


GENESIS_HASH = "0" * 64
