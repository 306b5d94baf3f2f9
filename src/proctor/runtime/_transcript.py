"""The conversation the model sees, folded from the same events as ``RunState``."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from proctor.gateway import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from proctor.store import (
    DraftRecorded,
    Event,
    ModelCalled,
    PolicyDecided,
    RunStarted,
    ToolFinished,
    canonical_json,
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _status_for(rule: str) -> str:
    if rule == "schema.invalid_arguments":
        return "invalid_arguments"
    if rule == "approval.denied":
        return "approval_denied"
    return "denied"


class Transcript:
    """Messages for the next model call: instructions, input, then each turn and result.

    Tool results are JSON: the tool's result on success, otherwise
    ``{"error": ..., "status": "denied" | "invalid_arguments" | "tool_error" |
    "approval_denied" | "draft_recorded"}``.
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._names: dict[str, str] = {}
        # Running digest of the conversation, so recording a model call costs O(1).
        self._hash = hashlib.sha256()

    def digest(self) -> str:
        """SHA-256 over every message so far, in order."""
        return self._hash.copy().hexdigest()

    def _add(self, message: Message, fingerprint: Any) -> None:
        self.messages.append(message)
        self._hash.update(canonical_json([message.role, fingerprint]))

    def apply(self, event: Event) -> None:
        data = event.data
        match data:
            case RunStarted():
                self._add(SystemMessage(content=data.instructions), data.instructions)
                user = _json(data.input)
                self._add(UserMessage(content=user), user)
            case ModelCalled():
                calls = [c.model_dump(mode="json") for c in data.tool_calls]
                self._add(
                    AssistantMessage(text=data.text, tool_calls=tuple(data.tool_calls)),
                    [data.text, calls],
                )
                for call in data.tool_calls:
                    self._names[call.id] = call.name
            case PolicyDecided(decision="deny"):
                self._reply(data.call_id, {"error": data.reason, "status": _status_for(data.rule)})
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
            case _:
                pass

    def _reply(self, call_id: str, content: Any) -> None:
        text = _json(content)
        self._add(
            ToolMessage(call_id=call_id, name=self._names.get(call_id, ""), content=text), text
        )
