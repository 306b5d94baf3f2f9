"""What the model saw at each turn of a run, rebuilt from the run's log in one pass (the
run page's and ``/api/v1/runs/{run_id}/turns``'s view of it).

The messages come from the runtime's own ``Transcript``, folded over the stored events
exactly as a resumed run folds them, so a ``context_compacted`` event shows the compacted
context the model was sent (the summary, the shortened results), not the full history.
The log is the redacted record: placeholders stand where redaction replaced personal data
and secrets, and sealed raw values are never opened here. A purged event gives empty
messages, marked ``purged``.

Consecutive turns share most of their messages, so each message is kept once
(``RunContexts.messages``) and a turn names its context by index: a run of hundreds of
turns costs memory in proportion to its log, not to the square of its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from proctor.gateway import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
    message_tokens,
)
from proctor.runtime._transcript import Transcript
from proctor.store import (
    EVENT_TYPES,
    ContextCompacted,
    EventRow,
    ModelCalled,
    RecordedToolCall,
    Usage,
    row_to_event,
)

Kind = Literal["instructions", "input", "summary", "note", "assistant", "result", "shortened"]

# Every known event is folded, as the runtime folds them (the transcript picks what it
# reads); only a type newer than this version is skipped, rather than failing to decode.
_KNOWN = frozenset(kind.model_fields["type"].default for kind in EVENT_TYPES)


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextMessage:
    """One message as the model was sent it (redacted as recorded)."""

    role: Literal["system", "user", "assistant", "tool"]
    kind: Kind
    """instructions, input, summary (of compacted turns), note (a refused answer's),
    assistant (a turn's reply), result (a tool's), shortened (a result compaction
    replaced by a reference)."""
    text: str | None
    tool_calls: tuple[RecordedToolCall, ...] = ()
    call_id: str | None = None
    name: str | None = None
    """The tool a result answers."""
    tokens: int
    """Estimated tokens, framing included (as the runtime's budget counts them)."""
    turn: int
    """The model turn it belongs to (0: instructions, input, summary)."""
    seq: int
    """The event it was rebuilt from (for a summary: the ``context_compacted``)."""
    purged: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnCompaction:
    """A ``context_compacted`` event applied before a turn."""

    seq: int
    through_turn: int
    results_replaced: int
    tokens_before: int
    tokens_after: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnContext:
    """One model turn: the messages it was sent (by index) and what it answered."""

    turn: int
    seq: int
    """Its ``model_called`` event."""
    model: str
    usage: Usage
    """Tokens as the provider counted them."""
    cost_usd: float | None
    latency_ms: float
    cache_hit: bool
    finish_reason: str
    context: tuple[int, ...]
    """Indexes into ``RunContexts.messages``, in the order they were sent."""
    answer: int
    """The index of the reply (an assistant message)."""
    tokens: int
    """Estimated tokens of the context's messages (tool specs not included)."""
    compactions: tuple[TurnCompaction, ...] = ()
    """Compactions applied since the previous turn."""
    as_sent: bool | None = None
    """``True``: the rebuilt messages hash to the digest recorded with the turn, so they
    are exactly what the model was sent; ``False``: they differ (redaction replaced values
    in the record, retention purged a payload, or the store secret changed since); ``None``:
    not checked (no store secret given)."""


@dataclass(kw_only=True, slots=True)
class RunContexts:
    """Every model turn of a run with the context it saw."""

    messages: list[ContextMessage] = field(default_factory=list)
    turns: list[TurnContext] = field(default_factory=list)

    def turn(self, number: int) -> TurnContext | None:
        return next((t for t in self.turns if t.turn == number), None)

    def context_of(self, turn: TurnContext) -> list[ContextMessage]:
        return [self.messages[i] for i in turn.context]


def build_contexts(
    rows: Sequence[EventRow], *, through_turn: int | None = None, key: bytes | None = None
) -> RunContexts:
    """Each model turn's context, folding ``rows`` (a run's log, in order) once.

    With ``through_turn``, folding stops after that turn (one turn's context, read from
    the start of the log and no further). With ``key`` (the store secret the run's
    transcript digests were keyed with), each turn says whether its rebuilt messages are
    exactly those the model was sent (``TurnContext.as_sent``).
    """
    return _Builder(key).fold(rows, through_turn)


class _Builder:
    def __init__(self, key: bytes | None) -> None:
        self.transcript = Transcript(key=key)
        self.key = key
        self.found = RunContexts()
        self.index: dict[int, int] = {}  # id(message) -> its index in found.messages
        self.known: list[Message] = []  # keeps each indexed message alive (ids stay unique)
        self.seen = self.transcript.messages
        self.seen_count = 0
        self.compactions: list[TurnCompaction] = []

    def fold(self, rows: Sequence[EventRow], through_turn: int | None) -> RunContexts:
        for row in rows:
            if row.type not in _KNOWN:
                continue
            event = row_to_event(row)
            data = event.data
            if isinstance(data, ModelCalled):
                context = tuple(self.index[id(m)] for m in self.transcript.messages)
                tokens = sum(self.found.messages[i].tokens for i in context)
                # The same running digest the runtime recorded when it sent them.
                digest = None if self.key is None else self.transcript.digest()
                as_sent = None if digest is None else digest == data.messages_digest
            self.transcript.apply(event)
            self._register(row.seq, event.purged, compacted=isinstance(data, ContextCompacted))
            if isinstance(data, ContextCompacted):
                self.compactions.append(
                    TurnCompaction(
                        seq=row.seq,
                        through_turn=data.through_turn,
                        results_replaced=data.results_replaced,
                        tokens_before=data.tokens_before,
                        tokens_after=data.tokens_after,
                    )
                )
            elif isinstance(data, ModelCalled):
                self.found.turns.append(
                    TurnContext(
                        turn=self.transcript.turn,
                        seq=row.seq,
                        model=data.model,
                        usage=data.usage,
                        cost_usd=data.cost_usd,
                        latency_ms=data.latency_ms,
                        cache_hit=data.cache_hit,
                        finish_reason=data.finish_reason,
                        context=context,
                        answer=self.index[id(self.transcript.messages[-1])],
                        tokens=tokens,
                        compactions=tuple(self.compactions),
                        as_sent=as_sent,
                    )
                )
                self.compactions = []
                if through_turn is not None and self.transcript.turn >= through_turn:
                    break
        return self.found

    def _register(self, seq: int, purged: bool, *, compacted: bool) -> None:
        """Index the messages the last event added (a compaction rebuilds the list: then
        its new messages are the summary and the shortened results)."""
        messages = self.transcript.messages
        if messages is self.seen:
            fresh = messages[self.seen_count :]
            turns = [self.transcript.turn] * len(fresh)
        else:
            entries = self.transcript.entries()
            fresh = [m for m, _ in entries if id(m) not in self.index]
            turns = [turn for m, turn in entries if id(m) not in self.index]
        self.seen, self.seen_count = messages, len(messages)
        for message, turn in zip(fresh, turns, strict=True):
            if id(message) in self.index:
                continue
            self.index[id(message)] = len(self.found.messages)
            self.known.append(message)
            self.found.messages.append(_message(message, turn, seq, purged, compacted))


def _message(
    message: Message, turn: int, seq: int, purged: bool, compacted: bool
) -> ContextMessage:
    tokens = message_tokens(message)
    if isinstance(message, SystemMessage):
        return ContextMessage(
            role="system",
            kind="instructions",
            text=message.content,
            tokens=tokens,
            turn=0,
            seq=seq,
            purged=purged,
        )
    if isinstance(message, UserMessage):
        # A user message is the input, a compaction's summary, or the note that a
        # refused answer sends back (in a turn).
        kind: Kind = "summary" if compacted else "input" if turn == 0 else "note"
        return ContextMessage(
            role="user",
            kind=kind,
            text=message.content,
            tokens=tokens,
            turn=turn,
            seq=seq,
            purged=purged,
        )
    if isinstance(message, AssistantMessage):
        return ContextMessage(
            role="assistant",
            kind="assistant",
            text=message.text,
            tool_calls=message.tool_calls,
            tokens=tokens,
            turn=turn,
            seq=seq,
            purged=purged,
        )
    assert isinstance(message, ToolMessage)
    return ContextMessage(
        role="tool",
        kind="shortened" if compacted else "result",
        text=message.content,
        call_id=message.call_id,
        name=message.name,
        tokens=tokens,
        turn=turn,
        seq=seq,
        purged=purged,
    )
