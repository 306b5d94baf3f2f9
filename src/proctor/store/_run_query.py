"""What finding runs needs beyond plain filters: session keys, search terms, sort orders,
and the text a run's summary row keeps for search.

A run's *session* is a key its starter gives (a conversation, a ticket, a user's chat) so
that runs can be read together; it is unrelated to the web UI's sign-in sessions
(``SessionRecord``). Search reads three columns the summary row keeps: the run's input
and final answer as its log records them (redacted, cut to ``SEARCH_TEXT_CHARS``), and the
names of the tools it proposed. It is a ``LIKE`` over the rows the other filters leave
(always bounded by the tenant and the page's limit), not a full-text index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from proctor.errors import UsageError

SESSION_KEY_CHARS = 128
_SESSION_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=-]*")

SEARCH_TEXT_CHARS = 2000
"""How much of a run's input (as compact JSON) and answer its summary row keeps."""
TOTALS_CAP = 10_000
"""How many of the runs a list matches its totals add up at most (the newest): bounded
work per page on a store of millions."""
SEARCH_CHARS = 200
SEARCH_TERMS = 8

RunSort = Literal[
    "-started", "started", "-cost", "cost", "-duration", "duration", "-status", "status"
]
"""A runs list order: a column, descending with a leading ``-`` (``-started``: newest first)."""
RUN_SORTS: tuple[str, ...] = get_args(RunSort)

# Each order's key, most significant first, as SQL over ``runs r``; the run id last makes
# it total, so keyset pages neither skip nor repeat a run. A run of unknown cost sorts as
# -1 (below every known cost).
SORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "started": ("r.started_at", "r.run_id"),
    "cost": ("COALESCE(r.cost_usd, -1.0)", "r.run_id"),
    "duration": ("r.duration_s", "r.run_id"),
    "status": ("r.status", "r.started_at", "r.run_id"),
}
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "started": (float, str),
    "cost": (float, str),
    "duration": (float, str),
    "status": (str, float, str),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunTotals:
    """What the runs a filter matches add up to (its limit and cursor aside), or, when
    ``capped``, the newest ``runs`` of them (more match)."""

    capped: bool = False
    """More runs match than were added up (the cap asked for)."""
    runs: int = 0
    cost_usd: float = 0.0
    """The sum of the known costs."""
    cost_unknown: int = 0
    """Runs whose cost is unknown (an unpriced model): not in ``cost_usd``."""
    input_tokens: int = 0
    output_tokens: int = 0


def totals_of(runs: Sequence[Any], *, capped: bool = False) -> RunTotals:
    """What ``runs`` (``RunRecord`` values) add up to."""
    known = [run.cost_usd for run in runs if run.cost_usd is not None]
    return RunTotals(
        capped=capped,
        runs=len(runs),
        cost_usd=float(sum(known)),
        cost_unknown=len(runs) - len(known),
        input_tokens=sum(run.input_tokens for run in runs),
        output_tokens=sum(run.output_tokens for run in runs),
    )


def check_session_key(key: str) -> str:
    """``key`` if it can name a run's session (1 to 128 letters, digits and ``. _ : + = -``,
    starting with a letter or digit); ``UsageError`` saying what to change if not.

    A session key is metadata: it stays in the log when retention purges payloads, so it
    should be an opaque id, never personal data (hence no ``@``: not an e-mail address)."""
    if not isinstance(key, str) or not key:
        raise UsageError("a session key must not be empty. Fix: give a key such as chat-42")
    if len(key) > SESSION_KEY_CHARS:
        raise UsageError(
            f"session key {key[:40]!r}... has {len(key)} characters, more than "
            f"{SESSION_KEY_CHARS}. Fix: use a shorter key (an id, not a text)"
        )
    if not _SESSION_KEY.fullmatch(key):
        raise UsageError(
            f"session key {key!r} holds characters a session key cannot: use letters, "
            "digits and . _ : + = - (starting with a letter or digit), e.g. user-7:chat-42; "
            "an opaque id, not personal data such as an e-mail address"
        )
    return key


def search_terms(text: str) -> tuple[str, ...]:
    """The terms of a search (split on spaces, lower-cased), each of which a run must
    match; ``UsageError`` if there are too many or it is too long."""
    if len(text) > SEARCH_CHARS:
        raise UsageError(
            f"the search has {len(text)} characters, more than {SEARCH_CHARS}. Fix: search "
            "for a shorter phrase (a run id, a word of the input or answer, a tool name)"
        )
    if "\x00" in text:
        raise UsageError(
            "the search holds a NUL character, which no run's text can. Fix: search for "
            "printable text"
        )
    terms = tuple(dict.fromkeys(text.lower().split()))
    if len(terms) > SEARCH_TERMS:
        raise UsageError(
            f"the search has {len(terms)} words, more than {SEARCH_TERMS}. Fix: search for "
            "fewer words (each must match)"
        )
    return terms


def check_sort(sort: str) -> RunSort:
    """``sort`` as a ``RunSort``; ``UsageError`` naming the orders if it is not one."""
    if sort not in RUN_SORTS:
        raise UsageError(
            f"unknown sort {sort!r}: use one of {', '.join(RUN_SORTS)} "
            "(a leading - sorts descending)"
        )
    return sort  # type: ignore[return-value]  # checked against RunSort's values


def sort_key(sort: RunSort, run: Any) -> tuple[float | str, ...]:
    """The position of ``run`` (a ``RunRecord``) in ``sort``'s order, as keyset cursors
    and ``MemoryStore`` compare it."""
    column = sort.lstrip("-")
    if column == "started":
        return (run.started_at, run.run_id)
    if column == "cost":
        return (-1.0 if run.cost_usd is None else float(run.cost_usd), run.run_id)
    if column == "duration":
        return (float(run.duration_s), run.run_id)
    return (run.status, run.started_at, run.run_id)


def check_sort_key(sort: RunSort, key: Any) -> tuple[float | str, ...] | None:
    """``key`` as a position in ``sort``'s order, or ``None`` if it cannot be one."""
    kinds = _KEY_TYPES[sort.lstrip("-")]
    if not isinstance(key, list | tuple) or len(key) != len(kinds):
        return None
    checked: list[float | str] = []
    for value, kind in zip(key, kinds, strict=True):
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            checked.append(float(value))
        elif kind is str and isinstance(value, str) and "\x00" not in value:
            checked.append(value)
        else:
            return None
    return tuple(checked)


def summary_input(input: Any) -> str:
    """A run's input as its summary row keeps it for search: compact JSON, cut short."""
    if input is None:
        return ""
    return orjson.dumps(input).decode()[:SEARCH_TEXT_CHARS]


def summary_answer(text: Any) -> str:
    """A run's final answer as its summary row keeps it for search, cut short."""
    return text[:SEARCH_TEXT_CHARS] if isinstance(text, str) else ""


def summary_tools(names: Iterable[str]) -> str:
    """The tools a run proposed, each once in first-use order, space-separated."""
    return " ".join(dict.fromkeys(names))
