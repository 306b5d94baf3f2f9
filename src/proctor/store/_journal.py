"""``RunJournal``: appends typed events to one run's hash chain, a batch at a time."""

from __future__ import annotations

import functools
import os
import random
import time
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from proctor.store._canonical import GENESIS_HASH, canonical_json, chain_hash, digest
from proctor.store._dump import split
from proctor.store._events import Event, EventData, _Data
from proctor.store._evidence import SIGNED_EVENTS, EvidenceKeys, head_message
from proctor.store._jcs import ordinary_fields, ordinary_float, plain_fields, standard_chain_hash
from proctor.store._protocol import Store
from proctor.store._records import ApprovalRecord, EventRow, RunRecord
from proctor.store._sealing import RunKey

Redact = Callable[[dict[str, Any]], dict[str, Any]]
"""Returns a copy of an event's content with personal data and secrets replaced."""

# Metadata is hashed as it is, but these fields are prose that may quote run content
# (a denial quoting arguments, a tool's error in an escalation): they are redacted too.
_TEXT_META = ("reason",)
# Who started a run, who decided: names, recorded as ``redact_name`` says (a pseudonym).
_NAME_META = ("started_by", "decided_by")
_EMPTY_DIGEST = digest({})


@functools.cache
def _float_fields(kind: type[_Data], exact: bool) -> tuple[str, ...]:
    """The metadata fields of an event type that may hold a float (or a structure that
    may): only their values are checked for what orjson writes otherwise than JCS.
    ``exact``: the values were checked to be of their declared types (``split``'s fast
    way), so a nested model of text and integers (``Usage``) holds no float either."""
    return tuple(
        name
        for name, info in kind.model_fields.items()
        if name not in kind.content_fields
        and not plain_fields(info.annotation)
        and not (exact and _plain_model(info.annotation))
    )


def _plain_model(annotation: Any) -> bool:
    """Whether ``annotation`` is a model (or ``Model | None``) of plain fields only."""
    models = [
        arg
        for arg in (annotation, *typing.get_args(annotation))
        if isinstance(arg, type) and issubclass(arg, BaseModel)
    ]
    return (
        len(models) == 1
        and all(arg in (models[0], type(None)) for arg in typing.get_args(annotation))
        and all(plain_fields(info.annotation) for info in models[0].model_fields.values())
    )


_SPAN_IDS_AHEAD = 256
_span_ids: list[str] = []
# A child process must not hand out the ids its parent drew (``random`` reseeds itself).
os.register_at_fork(after_in_child=_span_ids.clear)


def new_span_id() -> str:
    """A random 64-bit span id (not a secret, so no system entropy call per event). Drawn
    256 at a time (one ``randbytes`` and a slice each: half the cost of a call per id)."""
    try:
        return _span_ids.pop()
    except IndexError:
        block = random.randbytes(8 * _SPAN_IDS_AHEAD).hex()
        _span_ids.extend([block[at : at + 16] for at in range(16, 16 * _SPAN_IDS_AHEAD, 16)])
        return block[:16]


def _hide_fields(
    meta: dict[str, Any], fields: Sequence[str], hide: Callable[[str], str], raw: dict[str, Any]
) -> None:
    """Replace ``fields`` of ``meta`` with what ``hide`` makes of them, keeping the values
    it changed in ``raw["meta"]`` (to be sealed)."""
    for key in fields:
        value = meta.get(key)
        if value:
            said = hide(value)
            if said != value:
                raw.setdefault("meta", {})[key] = value
                meta[key] = said


class RunJournal:
    """The single writer of one run's log.

    It holds the chain head in memory, so appending never re-reads the log, and the batch
    of events sealed but not yet written: ``seal`` chains events now, ``commit`` writes the
    batch in one transaction (or restores the head, if the write fails).
    """

    def __init__(
        self,
        store: Store,
        *,
        run_id: str,
        trace_id: str,
        root_span_id: str,
        last_seq: int = -1,
        head_hash: str = GENESIS_HASH,
        redact: Redact | None = None,
        clock: Callable[[], float] = time.time,
        keys: EvidenceKeys | None = None,
        run_key: RunKey | None = None,
        redact_name: Callable[[str], str] | None = None,
    ) -> None:
        """``redact`` is applied to each event's content and prose before it is hashed and
        stored; the returned ``Event`` keeps the data as given, for the live run, and with
        ``run_key`` the record keeps what redaction replaced sealed (``store._sealing``).
        ``clock`` gives each event's time (epoch seconds). With ``keys`` the chain is
        keyed: events are hashed as RFC 8785 JSON, each commit ends with a MAC, and the
        commits that decide are signed (``authenticate``)."""
        self.store = store
        self.run_id = run_id
        self.trace_id = trace_id
        self.root_span_id = root_span_id
        self.last_seq = last_seq
        self.head_hash = head_hash
        self.redact = redact
        self.clock = clock
        self.keys = keys
        self.run_key = run_key
        self.redact_name = redact_name
        # A keyed digest is recomputed only by the secret's holder, with Proctor's own code:
        # canonical JSON (orjson) is enough, and the payload can be large.
        self._content_digest: Callable[[Any], str] = (
            digest if keys is None else lambda c: keys.content_digest(canonical_json(c))
        )
        # A redactor may take the content's JSON along (``encoded``), saving it a pass.
        self._redact_encoded: Callable[[dict[str, Any], bytes], dict[str, Any]] | None = getattr(
            redact, "encoded", None
        )
        prose: Callable[[str], str] | None = getattr(redact, "prose", None)
        self._redact_text: Callable[[str], str] = prose or (
            lambda text: redact({"text": text})["text"] if redact is not None else text
        )
        self._pending: list[EventRow] = []
        self._batch_start = (last_seq, head_hash)

    @classmethod
    def resume(
        cls,
        store: Store,
        rows: Sequence[EventRow],
        *,
        redact: Redact | None = None,
        clock: Callable[[], float] = time.time,
        keys: EvidenceKeys | None = None,
        run_key: RunKey | None = None,
        redact_name: Callable[[str], str] | None = None,
    ) -> RunJournal:
        """The writer of a stored run whose log so far is ``rows``: it continues its chain
        (keyed if it was started keyed)."""
        first, last = rows[0], rows[-1]
        return cls(
            store,
            run_id=first.run_id,
            trace_id=first.trace_id,
            root_span_id=first.span_id,
            last_seq=last.seq,
            head_hash=last.hash,
            redact=redact,
            clock=clock,
            keys=keys if first.keyed else None,
            run_key=run_key,
            redact_name=redact_name,
        )

    def build(
        self, data: EventData, *, span_id: str | None = None, ts: float | None = None
    ) -> tuple[EventRow, Event]:
        """Seal ``data`` as the next event of the chain (not yet written)."""
        parts = split(data, data.content_fields)
        meta, content, content_json = parts.meta, parts.content, parts.content_json
        raw: dict[str, Any] = {}
        if self.redact is not None:
            if self._redact_encoded is not None and content_json is not None:
                shown = self._redact_encoded(content, content_json)
            else:
                shown = self.redact(content)
            if shown is not content and shown != content:
                raw["content"] = content
                content, content_json = shown, None
            _hide_fields(meta, _TEXT_META, self._redact_text, raw)
        if self.redact_name is not None:
            _hide_fields(meta, _NAME_META, self.redact_name, raw)
        seq = self.last_seq + 1
        is_root = seq == 0
        row = EventRow(
            run_id=self.run_id,
            seq=seq,
            type=data.type,
            ts=self.clock() if ts is None else ts,
            trace_id=self.trace_id,
            span_id=self.root_span_id if is_root else (span_id or new_span_id()),
            parent_span_id=None if is_root else self.root_span_id,
            meta=meta,
            content=content,
            content_digest=self._content_digest(content) if content else _EMPTY_DIGEST,
            prev_hash=self.head_hash,
            hash="",
        )
        if "meta" not in raw:  # what the store writes, made once (unless redaction changed it)
            row.meta_json = parts.meta_json
        row.content_json = content_json
        if raw and self.run_key is not None:
            self.run_key.seal_event(row, raw)
        if self.keys is not None:
            floats = _float_fields(type(data), parts.meta_json is not None)
            plain = ordinary_float(row.ts) and ordinary_fields(meta, floats)
            row.hash = standard_chain_hash(row.prev_hash, row.hashed_metadata(), plain=plain)
        else:
            row.hash = chain_hash(row.prev_hash, row.hashed_metadata())
        self.last_seq = seq
        self.head_hash = row.hash
        event = Event(
            run_id=row.run_id,
            seq=seq,
            ts=row.ts,
            trace_id=row.trace_id,
            span_id=row.span_id,
            parent_span_id=row.parent_span_id,
            data=data,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
        return row, event

    def authenticate(self, rows: Sequence[EventRow]) -> None:
        """Close a commit of ``rows``: its last event gets the chain MAC, and a signature
        of the head if the commit decides something (``SIGNED_EVENTS``). One MAC and at
        most one signature per commit, not per event: the hash covers all before it."""
        keys = self.keys
        if keys is None or not rows:
            return
        last = rows[-1]
        last.mac = keys.mac(last.hash)
        if keys.signer is not None and any(row.type in SIGNED_EVENTS for row in rows):
            last.signature = keys.sign(head_message(last.run_id, last.seq, last.hash))

    def close(self) -> list[EventRow]:
        """Take the sealed batch, authenticated (``authenticate``), to write: ``commit``
        writes it; a caller writing it in a transaction of its own takes it here."""
        rows, self._pending = self._pending, []
        self.authenticate(rows)
        return rows

    def discard(self) -> None:
        """Drop the sealed batch unwritten: the chain's head goes back to the last commit."""
        if self._pending:
            self.last_seq, self.head_hash = self._batch_start
            self._pending = []

    @property
    def committed(self) -> tuple[int, str]:
        """The sequence number and hash of the last event written (not merely sealed)."""
        return self._batch_start if self._pending else (self.last_seq, self.head_hash)

    @property
    def pending(self) -> Sequence[EventRow]:
        """The rows sealed since the last commit, in order."""
        return self._pending

    def seal(self, items: Sequence[EventData], *, span_id: str | None = None) -> list[Event]:
        """Chain ``items`` now, as the next events of the batch ``commit`` writes.

        The events are returned at once, so the writer can fold them before they are
        written (a decision sees the proposal it decides, totals include their own batch).
        """
        if not self._pending:
            self._batch_start = (self.last_seq, self.head_hash)
        events: list[Event] = []
        for item in items:
            row, event = self.build(item, span_id=span_id)
            self._pending.append(row)
            events.append(event)
        return events

    async def commit(
        self, *, run: RunRecord | None = None, approval: ApprovalRecord | None = None
    ) -> list[EventRow]:
        """Write the sealed batch, and the side rows given, in one transaction.

        ``run`` is given the chain's new head. If the write fails, the head goes back to
        where the batch started and the batch is dropped: the log holds none of it.
        """
        rows = self.close()
        if run is not None:
            run.last_seq, run.head_hash = self.last_seq, self.head_hash
        try:
            await self.store.append(rows, run=run, approval=approval)
        except BaseException:
            self.last_seq, self.head_hash = self._batch_start
            raise
        return rows

    async def append(
        self,
        items: Sequence[EventData],
        *,
        span_id: str | None = None,
        run: RunRecord | None = None,
        approval: ApprovalRecord | None = None,
    ) -> list[Event]:
        """Write ``items`` as the next events (after any sealed before), atomically, with
        optional side rows."""
        events = self.seal(items, span_id=span_id)
        await self.commit(run=run, approval=approval)
        return events
