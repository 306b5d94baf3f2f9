"""``Migration``: one schema step, as each backend's SQL (see ``_migrations``)."""

from __future__ import annotations


class Migration:
    """One schema step, as each backend's SQL.

    PostgreSQL's keeps JSON as text (byte-exact), times as ``DOUBLE PRECISION``, and ids
    ``COLLATE "C"`` so they sort by code point, as SQLite sorts them. (A plain class: a
    dataclass or NamedTuple would add to every ``import proctor``.)
    """

    __slots__ = ("postgres", "sqlite")

    def __init__(self, *, sqlite: str, postgres: str) -> None:
        self.sqlite = sqlite
        self.postgres = postgres
