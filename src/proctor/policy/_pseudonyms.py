"""Pseudonyms for what redaction masked: a redacted record made distinct again.

A masked value (``[email:redacted]``) says that a value was there, not which one: two
addresses read as one. Where the raw values are at hand (a run's sealed payloads), each
masked value is replaced by a keyed pseudonym of itself (``[email:sha256:3f1c0a9be2d4]``,
the form the ``hash`` action writes), so equal values stay equal, different ones differ,
and nothing raw is shown. Used by ``eval capture``, whose fixtures must tell calls apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from proctor.policy import _detectors as d

_MASKED = re.compile(r"\[([a-z][a-z0-9_]*):redacted\]")
_ANY_PLACEHOLDER = re.compile(r"\[(?:dropped|[a-z][a-z0-9_]*:(?:redacted|sha256:[0-9a-f]{12}))\]")


def pseudonym(label: str, value: str, key: bytes) -> str:
    """``value``'s pseudonym under ``key``: one value written two ways (an IBAN with or
    without spaces, an address in capitals) gets one pseudonym."""
    mac = hmac.new(key, d.normalize(label, value).encode(), hashlib.sha256).hexdigest()[:12]
    return f"[{label}:sha256:{mac}]"


def pseudonymize(projected: Any, raw: Any, key: bytes) -> Any:
    """``projected`` (a redacted JSON-like value) with each masked value replaced by the
    pseudonym of the raw value it stands for in ``raw`` (the same value, unredacted).

    Where the two do not line up (a different shape, text that does not match around the
    placeholders) the projection is kept as it is: nothing raw can leak through a guess.
    """
    if type(projected) is str:
        return _text(projected, raw, key) if "[" in projected else projected
    if type(projected) is dict and type(raw) is dict and len(projected) == len(raw):
        return {
            pseudonymize(p_key, r_key, key): pseudonymize(p_value, r_value, key)
            for (p_key, p_value), (r_key, r_value) in zip(
                projected.items(), raw.items(), strict=True
            )
        }
    if type(projected) is list and type(raw) is list and len(projected) == len(raw):
        return [pseudonymize(p, r, key) for p, r in zip(projected, raw, strict=True)]
    return projected


def _text(projected: str, raw: Any, key: bytes) -> str:
    if type(raw) in (int, float):  # a card number as a JSON number (see Redactor.value)
        raw = str(int(raw))
    if type(raw) is not str or _MASKED.search(projected) is None:
        return projected
    placeholders = _ANY_PLACEHOLDER.findall(projected)
    parts = _ANY_PLACEHOLDER.split(projected)
    pattern = "(.+?)".join(re.escape(part) for part in parts)
    found = re.fullmatch(pattern, raw, re.DOTALL)
    if found is None:
        return projected
    out = [parts[0]]
    for index, placeholder in enumerate(placeholders):
        masked = _MASKED.fullmatch(placeholder)
        out.append(placeholder if masked is None else pseudonym(masked[1], found[index + 1], key))
        out.append(parts[index + 1])
    return "".join(out)
