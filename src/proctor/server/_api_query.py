"""Query parameters the API reads beyond plain types: times, cursors, contract versions."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re

from proctor.errors import UsageError
from proctor.reports import parse_since
from proctor.store import RunSort, Store, check_sort_key, json_value_problem

_EPOCH = re.compile(r"\d{9,11}(?:\.\d{1,9})?")
_LATEST = 253402300799.0
"""9999-12-31T23:59:59Z: the last time ISO 8601 (and Python's datetime) can write."""
_HEX = re.compile(r"[0-9a-f]{4,64}")

NO_VERSION = "-"
"""A contract hash no run has: what a version that names no stored contract filters by."""


def parse_time(name: str, text: str, *, now: float) -> float:
    """``text`` as epoch seconds: epoch seconds, an ISO 8601 date or time (UTC unless it
    names an offset), or an age before ``now`` (``90m``, ``24h``, ``7d``, ``2w``)."""
    value = text.strip()
    try:
        moment = float(value) if _EPOCH.fullmatch(value) else parse_since(value, now=now)
    except UsageError:
        raise UsageError(
            f"{name}={text!r} is not a time. Fix: give an ISO 8601 date or time "
            "(2026-11-01, 2026-11-01T09:30:00Z), epoch seconds (1793520000), "
            "or an age such as 90m, 24h, 7d, 2w"
        ) from None
    if not 0 <= moment <= _LATEST:
        raise UsageError(
            f"{name}={text!r} is before 1970 or after 9999. Fix: give a time in between"
        )
    return moment


def encode_cursor(sort: RunSort, key: tuple[float | str, ...]) -> str:
    """The opaque cursor after the run at ``key`` (its ``sort_key``) in ``sort``'s order.
    Newest-first cursors are ``[started_at, run_id]`` as before sorts existed; others
    name their order first, so a cursor is never read under another order."""
    position = list(key) if sort == "-started" else [sort, *key]
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: RunSort = "-started") -> tuple[float | str, ...]:
    """The position a cursor of ``encode_cursor`` names in ``sort``'s order; ``UsageError``
    if it is not one (or was made for another order)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        if sort != "-started":
            # Another order's cursor names its order first: one without it is refused.
            named = isinstance(position, list) and position[:1] == [sort]
            position = position[1:] if named else None
        key = check_sort_key(sort, position)
        # Only what encode_cursor writes: finite numbers in range, text with no NUL.
        if key is not None and all(
            json_value_problem(value) is None
            and (isinstance(value, str) or (math.isfinite(value) and -1 <= value <= _LATEST))
            for value in key
        ):
            return key
    except (binascii.Error, ValueError, TypeError, RecursionError):
        pass
    raise UsageError(
        f"cursor {cursor!r} is not a cursor of this API for sort={sort}. Fix: pass the "
        "next_cursor of the previous page unchanged, with the same sort, or leave cursor "
        "out for the first page"
    )


def encode_approval_cursor(key: tuple[float, str]) -> str:
    """The opaque cursor after the approval at ``key`` (its ``approval_key``)."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_approval_cursor(cursor: str) -> tuple[float, str]:
    """The position a cursor of ``encode_approval_cursor`` names; ``UsageError`` if it is
    not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        if isinstance(position, list) and len(position) == 2:
            at, approval_id = position
            if (
                isinstance(at, int | float)
                and not isinstance(at, bool)
                and math.isfinite(at)
                and 0 <= at <= _LATEST
                and isinstance(approval_id, str)
                and json_value_problem(approval_id) is None
            ):
                return float(at), approval_id
    except (binascii.Error, ValueError, TypeError, RecursionError):
        pass
    raise UsageError(
        f"cursor {cursor!r} is not an approvals cursor of this API. Fix: pass the "
        "next_cursor of the previous page unchanged, with the same status, or leave cursor "
        "out for the first page"
    )


async def resolve_version(store: Store, ref: str, *, workflow: str | None) -> str:
    """The content hash of the contract version ``ref`` names: a content hash or a prefix
    of it (at least 4 hex digits), or a version label (``3`` or ``v3``) of ``workflow``.

    ``NO_VERSION`` when nothing stored matches, so the filter matches no run.
    """
    wanted = ref.strip()
    found: set[str] = set()
    if _HEX.fullmatch(wanted.lower()):
        stored = await store.contracts(workflow=workflow, hash_prefix=wanted.lower())
        found = {c.content_hash for c in stored}
    elif workflow is None:
        raise UsageError(
            f"version={ref!r} is a version label, which needs its workflow. Fix: add "
            "workflow=NAME, or give the contract's content hash (or its first 4+ digits)"
        )
    if not found and workflow is not None:
        label = wanted.removeprefix("v")
        found = {
            c.content_hash for c in await store.contracts(workflow=workflow) if c.version == label
        }
    if len(found) > 1:
        raise UsageError(
            f"version={ref!r} names {len(found)} contract versions. Fix: give more digits "
            "of the content hash, or the full hash"
        )
    return found.pop() if found else NO_VERSION
