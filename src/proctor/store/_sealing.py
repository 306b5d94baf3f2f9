"""Sealed payloads: the raw values redaction keeps out of the record, encrypted per run.

A run that redacts gets a data key of its own (AES-256-GCM), stored wrapped (encrypted)
by a master key derived from the store secret, in ``run_keys``. An event whose content or
prose redaction changed keeps, beside its redacted projection, a ``sealed`` blob: the raw
values, encrypted under the run's key with the event's place (run, seq, content digest) as
associated data, so no blob can be moved to another event or run unnoticed. The chain
hashes that an event is sealed, so a blob deleted is caught too.

The runtime opens the blobs (resume, approvals, re-deciding); everything shown or
exported reads the projection. Retention deletes the run's key and its blobs
(crypto-shredding): what is left is the projection, and the chain still verifies.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from proctor.errors import StoreError
from proctor.store._events import Event
from proctor.store._records import EventRow, row_to_event

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from proctor.store._evidence import EvidenceKeys

SHREDDED = "-"
"""What a purge leaves of a sealed blob: the event stays marked sealed, its key is gone."""
SEALED_INPUT = "$sealed"
"""The one key of a queued run's input when the input is sealed."""
_NONCE = 12


class SealError(StoreError):
    """A sealed payload or run key that cannot be opened: altered, or its key is gone.
    ``seq`` names the event, where one is to blame."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class RunKey:
    """One run's data key, open: it seals and opens that run's payloads."""

    run_id: str
    wrapped: str
    """``<master key id>.<base64url nonce + ciphertext>``: what ``run_keys`` stores."""
    _aead: AESGCM = field(repr=False)

    def seal(self, place: str, plaintext: bytes) -> str:
        """``plaintext`` encrypted, bound to ``place`` (base64url of nonce + ciphertext)."""
        nonce = os.urandom(_NONCE)
        return _b64(nonce + self._aead.encrypt(nonce, plaintext, place.encode()))

    def open(self, place: str, blob: str) -> bytes:
        """The plaintext ``seal`` sealed at ``place``; ``SealError`` if it was altered."""
        from cryptography.exceptions import InvalidTag

        try:
            raw = _unb64(blob)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], place.encode())
        except (InvalidTag, ValueError):
            raise SealError(
                f"a sealed payload of run {self.run_id} does not open under the run's key: "
                "it was altered or moved"
            ) from None

    def seal_event(self, row: EventRow, raw: dict[str, Any]) -> None:
        """Seal ``raw`` (``{"content": ..., "meta": {...}}``: what redaction replaced) into
        ``row.sealed``; call before the row is hashed (its digest is part of the place)."""
        row.sealed = self.seal(event_place(row), orjson.dumps(raw))

    def seal_input(self, input: dict[str, Any], submitted_by: str) -> dict[str, Any]:
        """A queued run's input and submitter, sealed: ``{"$sealed": blob}``."""
        plain = orjson.dumps({"input": input, "submitted_by": submitted_by})
        return {SEALED_INPUT: self.seal(f"queue input\n{self.run_id}", plain)}

    def open_input(self, stored: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The input and submitter ``seal_input`` sealed."""
        opened = orjson.loads(self.open(f"queue input\n{self.run_id}", stored[SEALED_INPUT]))
        return opened["input"], opened["submitted_by"]


def event_place(row: EventRow) -> str:
    return f"proctor sealed v1\n{row.run_id}\n{row.seq}\n{row.content_digest}"


def is_sealed_input(stored: dict[str, Any]) -> bool:
    return len(stored) == 1 and isinstance(stored.get(SEALED_INPUT), str)


def _aead(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def new_run_key(keys: EvidenceKeys, run_id: str) -> RunKey:
    """A fresh data key for ``run_id``, wrapped by the current master key."""
    data_key = os.urandom(32)
    nonce = os.urandom(_NONCE)
    master = _aead(keys.seal_keys[keys.seal_id])
    wrapped = master.encrypt(nonce, data_key, f"proctor run key v1\n{run_id}".encode())
    return RunKey(run_id, f"{keys.seal_id}.{_b64(nonce + wrapped)}", _aead(data_key))


def open_run_key(keys: EvidenceKeys, run_id: str, wrapped: str) -> RunKey:
    """The data key ``wrapped`` holds for ``run_id``; ``SealError`` names what is wrong."""
    from cryptography.exceptions import InvalidTag

    kid, _, value = wrapped.partition(".")
    master = keys.seal_keys.get(kid)
    if master is None:
        raise SealError(
            f"run {run_id}'s data key is wrapped by master key {kid!r}, which this store does "
            "not hold (a retired store secret belongs in <home>/retired/)"
        )
    try:
        raw = _unb64(value)
        data_key = _aead(master).decrypt(
            raw[:_NONCE], raw[_NONCE:], f"proctor run key v1\n{run_id}".encode()
        )
    except (InvalidTag, ValueError):
        raise SealError(
            f"run {run_id}'s data key does not open: the run_keys row was altered or belongs "
            "to another run"
        ) from None
    return RunKey(run_id, wrapped, _aead(data_key))


def raw_parts(row: EventRow, key: RunKey | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``row``'s metadata and content with the sealed raw values put back (as stored, if
    it holds none); ``SealError`` if it holds some that ``key`` cannot open."""
    if not row.sealed:
        return row.meta, row.content
    if row.sealed == SHREDDED:
        raise SealError(
            f"event {row.seq} of run {row.run_id} was sealed and its key destroyed by "
            "retention: its raw values are gone"
        )
    if key is None:
        raise SealError(
            f"event {row.seq} of run {row.run_id} is sealed, but the run has no data key in "
            "this store (its run_keys row is missing)"
        )
    raw = orjson.loads(key.open(event_place(row), row.sealed))
    meta = {**row.meta, **raw["meta"]} if "meta" in raw else row.meta
    return meta, raw.get("content", row.content)


def open_events(rows: Sequence[EventRow], key: RunKey | None) -> list[Event]:
    """The run's events as they happened: raw values where the record keeps them sealed."""
    events: list[Event] = []
    for row in rows:
        try:
            meta, content = raw_parts(row, key)
        except SealError as exc:
            raise SealError(str(exc), seq=row.seq) from None
        events.append(row_to_event(replace(row, meta=meta, content=content)))
    return events


def sealed_problem(
    keys: EvidenceKeys, run_id: str, rows: Sequence[EventRow], wrapped: str | None
) -> tuple[int, str] | None:
    """Why the run's sealed values do not open under its data key (the first event that
    cannot be read, and the problem), or ``None``: part of ``proctor audit verify`` for whoever
    holds the store secret."""
    live = [row for row in rows if row.sealed and row.sealed != SHREDDED]
    if not live:
        return None
    if wrapped is None:
        return live[0].seq, "it holds sealed values, but the run's data key is missing"
    try:
        key = open_run_key(keys, run_id, wrapped)
    except SealError as exc:
        return live[0].seq, str(exc)
    for row in live:
        try:
            key.open(event_place(row), row.sealed)
        except SealError:
            return row.seq, (
                "its sealed values do not open under the run's key: they were altered or "
                "moved from another event"
            )
    return None
