"""The conversation the model sees, folded from the same events as ``RunState``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from proctor.gateway import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
    message_tokens,
)
from proctor.policy import RuleId
from proctor.store import (
    AnswerRefused,
    ContextCompacted,
    DraftRecorded,
    Event,
    ModelCalled,
    PolicyDecided,
    RunStarted,
    ToolFinished,
    canonical_json,
)

EXPAND_TOOL = "context.expand"
PREVIEW_CHARS = 200
SUMMARY_PREFIX = "Summary of the earlier steps of this run:\n"
_APPROVAL_DENIED: RuleId = "approval.denied"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _status_for(decided: PolicyDecided) -> str:
    if decided.invalid_arguments:
        return "invalid_arguments"
    if decided.rule == _APPROVAL_DENIED:
        return "approval_denied"
    return "denied"


def reference(call_id: str, content: str) -> str:
    """What replaces a large tool result: a preview and how to get the rest."""
    return _json(
        {
            "ref": call_id,
            "preview": content[:PREVIEW_CHARS],
            "full_chars": len(content),
            "note": f"shortened to save context; call {EXPAND_TOOL} with this ref for all of it",
        }
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    message: Message
    turn: int
    """The model turn it belongs to (0: instructions, input, summaries)."""


class Transcript:
    """Messages for the next model call: instructions, input, then each turn and result.

    Tool results are JSON: the tool's result on success, otherwise
    ``{"error": ..., "status": "denied" | "invalid_arguments" | "tool_error" |
    "approval_denied" | "draft_recorded"}``. A ``context_compacted`` event replaces older
    turns by their summary and large results by references, exactly as when it was made.
    """

    def __init__(self, *, key: bytes | None = None) -> None:
        self._entries: list[_Entry] = []
        self.messages: list[Message] = []
        self._names: dict[str, str] = {}
        self._answered: set[str] = set()  # calls that have their one tool message
        self._turn = 0
        # Running digest and token count, so a model call costs O(new messages) here.
        self._key = key
        self._hash = self._new_hash()
        self._tokens = 0
        self._counted = 0  # messages whose tokens are in ``_tokens``

    @property
    def turn(self) -> int:
        return self._turn

    def digest(self) -> str:
        """SHA-256 over every message so far, in order (an HMAC under the run's key, if it
        has one: the messages hold what redaction keeps out of the log)."""
        found: str = self._hash.copy().hexdigest()
        return found

    def _new_hash(self) -> Any:
        if self._key is None:
            return hashlib.sha256()
        return hmac.new(self._key, digestmod=hashlib.sha256)

    def tokens(self) -> int:
        """Estimated tokens of the messages, framing included; each message counted once."""
        for message in self.messages[self._counted :]:
            self._tokens += message_tokens(message)
        self._counted = len(self.messages)
        return self._tokens

    def entries(self) -> list[tuple[Message, int]]:
        return [(e.message, e.turn) for e in self._entries]

    def _add(self, message: Message, turn: int) -> None:
        self._entries.append(_Entry(message, turn))
        self.messages.append(message)
        self._hash.update(canonical_json(_fingerprint(message)))

    def apply(self, event: Event) -> None:
        data = event.data
        match data:
            case RunStarted():
                self._add(SystemMessage(content=data.instructions), 0)
                self._add(UserMessage(content=_json(data.input)), 0)
            case ModelCalled():
                self._turn += 1
                self._add(
                    AssistantMessage(text=data.text, tool_calls=tuple(data.tool_calls)), self._turn
                )
                for call in data.tool_calls:
                    self._names[call.id] = call.name
            case PolicyDecided(decision="deny"):
                self._reply(data.call_id, {"error": data.reason, "status": _status_for(data)})
            case ToolFinished():
                if data.ok:
                    self._reply(data.call_id, data.result)
                else:
                    self._reply(data.call_id, {"error": data.error, "status": "tool_error"})
            case DraftRecorded():
                self._reply(
                    data.call_id,
                    {
                        "error": "the run is in draft-only mode: this write was recorded as "
                        "a draft for a person to review, not executed",
                        "status": "draft_recorded",
                    },
                )
            case ContextCompacted():
                self.compact(data.through_turn, data.summary, data.replaced_calls)
            case AnswerRefused():
                note = (
                    f"Your answer was not accepted: {data.reason} ({data.rule}). "
                    "Answer again without that."
                )
                self._add(UserMessage(content=note), self._turn)
            case _:
                pass

    def compact(
        self, through_turn: int, summary: str | None, replaced_calls: Iterable[str]
    ) -> None:
        """Replace turns up to ``through_turn`` by ``summary``; shorten ``replaced_calls``."""
        replaced = set(replaced_calls)
        kept: list[_Entry] = []
        for entry in self._entries:
            message = entry.message
            if summary is not None and 0 < entry.turn <= through_turn:
                continue
            if isinstance(message, ToolMessage) and message.call_id in replaced:
                message = ToolMessage(
                    call_id=message.call_id,
                    name=message.name,
                    content=reference(message.call_id, message.content),
                )
            kept.append(_Entry(message, entry.turn))
        if summary is not None:
            # The new summary already covers any earlier one (see compaction), so it
            # replaces it: one summary note at most.
            head = [e for e in kept if e.turn == 0 and not is_summary(e.message)]
            rest = [e for e in kept if e.turn != 0]
            note = UserMessage(content=SUMMARY_PREFIX + summary)
            kept = [*head, _Entry(note, 0), *rest]
        self._entries = []
        self.messages = []
        self._hash = self._new_hash()
        self._tokens = self._counted = 0
        for entry in kept:
            self._add(entry.message, entry.turn)

    def _reply(self, call_id: str, content: Any) -> None:
        # One message per call: a credential denial is recorded as the policy decision
        # and then as the tool's failure; the model gets the decision.
        if call_id in self._answered:
            return
        self._answered.add(call_id)
        name = self._names.get(call_id, "")
        self._add(ToolMessage(call_id=call_id, name=name, content=_json(content)), self._turn)


def is_summary(message: Message) -> bool:
    return isinstance(message, UserMessage) and message.content.startswith(SUMMARY_PREFIX)


def _fingerprint(message: Message) -> Any:
    if isinstance(message, AssistantMessage):
        calls = [c.model_dump(mode="json") for c in message.tool_calls]
        return [message.role, message.text, calls]
    return [message.role, message.content]
