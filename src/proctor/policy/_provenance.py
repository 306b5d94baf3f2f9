"""Where a value came from: every source the run has read, indexed by its pieces.

Each value that enters a run is labelled with its source: the run input (``input``) or a
tool's result (the tool's name), trusted or not as the contract's ``trust`` declares, per
field path. ``Provenance`` indexes the pieces of every string and number it is shown
(``_text.pieces``: e-mail addresses, URLs, domains, IBANs, numbers, ids, and the whole
normalised text), so a proposed argument is traced by looking its own pieces up. A value
found nowhere was written by the model (``model``).

A piece of an argument is found in a source when the source holds it; the argument's
whole text is found when it equals a string of the source, or (eight characters or
longer) appears in one at word boundaries, so a name copied out of a sentence is traced
too. Tracing works on values alone, so it holds for every tool, including tools that
never call Proctor.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from proctor.contracts import TrustSpec
from proctor.policy._text import normal_number, normal_text, pieces

MODEL = "model"
"""The origin of a value found in no source: the model wrote it."""

_MIN_SUBSTRING = 8
"""An argument's text shorter than this is traced only as a whole string or by its pieces:
``yes`` or ``Thanks`` inside a long e-mail says nothing about where it came from."""


@dataclass(frozen=True, slots=True)
class Label:
    """A source: its name (``input`` or a tool's) and whether it is trusted."""

    name: str
    trusted: bool


@dataclass(frozen=True, slots=True)
class LeafTrace:
    """Where one string or number was found: as a whole, and piece by piece."""

    whole: frozenset[Label]
    parts: tuple[frozenset[Label], ...] = ()

    @property
    def trusted(self) -> bool:
        if any(label.trusted for label in self.whole):
            return True
        return bool(self.parts) and all(
            any(label.trusted for label in labels) for labels in self.parts
        )

    @property
    def untrusted(self) -> bool:
        if any(label.trusted for label in self.whole):
            return False
        return any(
            labels and not any(label.trusted for label in labels)
            for labels in (self.whole, *self.parts)
        )

    @property
    def names(self) -> set[str]:
        names = {label.name for labels in (self.whole, *self.parts) for label in labels}
        if not self.whole:  # not found as it stands: the model wrote or changed it
            names.add(MODEL)
        return names


@dataclass(frozen=True)
class Trace:
    """Where each string and number inside one value was found (its answers computed
    once: a trace is kept until the run reads a new source)."""

    leaves: tuple[LeafTrace, ...]

    @functools.cached_property
    def origin(self) -> list[str]:
        """The names of the sources, ``model`` for what was found nowhere."""
        return sorted({name for leaf in self.leaves for name in leaf.names})

    @functools.cached_property
    def trusted(self) -> bool:
        """Every part of the value came from a trusted source: each string as a whole, or
        each meaningful piece of it."""
        return all(leaf.trusted for leaf in self.leaves)

    @functools.cached_property
    def untrusted(self) -> bool:
        """Some part of the value is found only in untrusted sources."""
        return any(leaf.untrusted for leaf in self.leaves)

    def found_in(self, name: str) -> bool:
        """Every part of the value is found in the source ``name``."""
        known: dict[str, bool] = self.__dict__.setdefault("_found_cache", {})
        found = known.get(name)
        if found is None:
            found = known[name] = self._found_in(name)
        return found

    def _found_in(self, name: str) -> bool:
        return bool(self.leaves) and all(
            any(label.name == name for label in leaf.whole)
            or (
                bool(leaf.parts)
                and all(any(label.name == name for label in labels) for labels in leaf.parts)
            )
            for leaf in self.leaves
        )


class Provenance:
    """The sources one run has read, built from its log (so resume and replay agree).

    The log keeps what redaction leaves. So that a masked value (an e-mail address, an
    IBAN) is still traced after a resume, the run records keyed fingerprints of the pieces
    redaction removed (``values_seen``, from ``lost``); tracing looks a piece up by its
    fingerprint too (``key``: the run's secret; ``None``: no fingerprints)."""

    def __init__(self, trust: TrustSpec, *, key: bytes | None = None) -> None:
        self._trust = trust
        self._key = key
        self._fingerprints: dict[str, set[Label]] = {}
        self._pieces: dict[str, set[Label]] = {}
        self._texts: list[tuple[str, Label]] = []
        # Traces of strings and of whole values, valid until the next source is added.
        self._traced: dict[str, LeafTrace] = {}
        self._values: dict[Any, Trace] = {}

    def add_input(self, value: Any) -> None:
        """Index the run's input."""
        self._add(value, "", lambda path: Label("input", self._trust.input_trusted(path)))

    def add_result(self, tool: str, value: Any) -> None:
        """Index one tool result (or error text) of ``tool``."""
        self._add(value, "", lambda path: Label(tool, self._trust.tool_trusted(tool, path)))

    def add_fingerprints(self, source: str, trusted: list[str], untrusted: list[str]) -> None:
        """Index the fingerprints a ``values_seen`` event recorded for ``source``."""
        self._traced.clear()
        self._values.clear()
        for fingerprints, is_trusted in ((trusted, True), (untrusted, False)):
            for fingerprint in fingerprints:
                self._fingerprints.setdefault(fingerprint, set()).add(Label(source, is_trusted))

    def lost(self, source: str, raw: Any, redacted: Any) -> tuple[list[str], list[str]]:
        """Fingerprints of the pieces of ``raw`` (what ``source`` gave) that ``redacted`` (what
        the log keeps of it) no longer holds, as (trusted, untrusted)."""
        if self._key is None:
            return [], []
        kept = {piece for _, leaf in _leaves(redacted, "") for piece in _all_pieces(leaf)}
        trusted: set[str] = set()
        untrusted: set[str] = set()
        for path, leaf in _leaves(raw, ""):
            if source == "input":
                is_trusted = self._trust.input_trusted(path)
            else:
                is_trusted = self._trust.tool_trusted(source, path)
            for piece in _all_pieces(leaf) - kept:
                (trusted if is_trusted else untrusted).add(self._fingerprint(piece))
        return sorted(trusted), sorted(untrusted)

    def trace(self, value: Any) -> Trace:
        """Where ``value`` (any JSON value) was found, string by string, piece by piece."""
        scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
        key = value if scalar else None
        if key is not None:
            known = self._values.get(key)
            if known is None:
                known = self._values[key] = self._trace(value)
            return known
        return self._trace(value)

    def _trace(self, value: Any) -> Trace:
        traced: list[LeafTrace] = []
        for _, leaf in _leaves(value, ""):
            if isinstance(leaf, str):
                known = self._traced.get(leaf)
                if known is None:
                    text = normal_text(leaf)
                    if not text:
                        continue
                    parts = tuple(self._labels(piece) for piece in pieces(leaf))
                    known = self._traced[leaf] = LeafTrace(self._whole(text), parts)
                traced.append(known)
            elif isinstance(leaf, int | float) and not isinstance(leaf, bool):
                traced.append(LeafTrace(self._labels("number:" + normal_number(leaf))))
        return Trace(tuple(traced))

    def trusted_part(self, tool: str, value: Any, path: str = "") -> Any:
        """``value`` (a result of ``tool``) with its untrusted fields left out: what
        conditions may read of it (``None`` if nothing of it is trusted)."""
        if isinstance(value, dict):
            kept = {
                key: self.trusted_part(tool, item, _join(path, str(key)))
                for key, item in value.items()
            }
            kept = {key: item for key, item in kept.items() if item is not None}
            return kept or None
        if isinstance(value, list):
            items = [self.trusted_part(tool, item, path) for item in value]
            return [item for item in items if item is not None] or None
        return value if self._trust.tool_trusted(tool, path) else None

    # -- indexing ------------------------------------------------------------------------

    def _add(self, value: Any, path: str, label_of: Any) -> None:
        self._traced.clear()
        self._values.clear()
        for leaf_path, leaf in _leaves(value, path):
            label: Label = label_of(leaf_path)
            if isinstance(leaf, str):
                text = normal_text(leaf)
                if not text:
                    continue
                self._pieces.setdefault("text:" + text, set()).add(label)
                if len(text) >= _MIN_SUBSTRING:
                    self._texts.append((text, label))
                for piece in pieces(leaf):
                    self._pieces.setdefault(piece, set()).add(label)
            elif isinstance(leaf, int | float) and not isinstance(leaf, bool):
                self._pieces.setdefault("number:" + normal_number(leaf), set()).add(label)

    def _labels(self, piece: str) -> frozenset[Label]:
        found = self._pieces.get(piece, set())
        if self._fingerprints:
            found = found | self._fingerprints.get(self._fingerprint(piece), set())
        return frozenset(found)

    def _fingerprint(self, piece: str) -> str:
        assert self._key is not None
        return hashlib.blake2b(piece.encode(), key=self._key[:64], digest_size=8).hexdigest()

    def _whole(self, text: str) -> frozenset[Label]:
        labels = set(self._labels("text:" + text))
        if len(text) >= _MIN_SUBSTRING:
            for source, label in self._texts:
                if label not in labels and _within(text, source):
                    labels.add(label)
        return frozenset(labels)


def _all_pieces(leaf: Any) -> frozenset[str]:
    """A scalar's pieces as the index keys them: its pieces and its whole text."""
    if isinstance(leaf, str):
        text = normal_text(leaf)
        return pieces(leaf) | {"text:" + text} if text else frozenset()
    if isinstance(leaf, int | float) and not isinstance(leaf, bool):
        return frozenset({"number:" + normal_number(leaf)})
    return frozenset()


def _within(text: str, source: str) -> bool:
    """``text`` occurs in ``source`` at word boundaries."""
    start = source.find(text)
    while start != -1:
        end = start + len(text)
        before = source[start - 1] if start else " "
        after = source[end] if end < len(source) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = source.find(text, start + 1)
    return False


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """The scalar values inside ``value``, each with its field path (lists walked through)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item, path)
    elif value is not None:
        yield path, value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
