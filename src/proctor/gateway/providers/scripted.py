"""``ScriptedModel``: a deterministic test double that plays a scripted conversation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from proctor.errors import ModelError
from proctor.gateway._errors import ModelCallError
from proctor.gateway._types import (
    AssistantMessage,
    CallSettings,
    Message,
    ModelResponse,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.store import RecordedToolCall, Usage


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One scripted model answer: a final text, or tool calls (name, arguments)."""

    text: str | None = None
    calls: Sequence[tuple[str, dict[str, Any]]] = ()


Script = Sequence[Turn] | Callable[[Sequence[Message]], Turn]


@dataclass(kw_only=True)
class ScriptedModel:
    """Plays ``script`` turn by turn; never calls a real model.

    ``script`` is a list of turns (the n-th model call gets the n-th turn) or a function
    of the conversation so far. Usage is estimated at four characters per token so cost
    reports have figures; ``priced_as`` names the real model whose prices apply.
    Its name always starts with ``scripted:`` so no output passes it off as a real model.
    """

    scenario: str
    script: Script
    priced_as: str | None = None
    # Characters of the conversation counted so far: conversations only grow, so each
    # call counts just the new messages (the estimate must not cost O(n) per turn).
    _counted: list[Message] = field(default_factory=list, init=False, repr=False)
    _counted_chars: int = field(default=0, init=False, repr=False)
    _counted_turns: int = field(default=0, init=False, repr=False)

    @property
    def name(self) -> str:
        return f"scripted:{self.scenario}"

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        if settings is not None and settings.extra:
            raise ModelCallError(
                f"the scripted model {self.name!r} cannot honour "
                f"{', '.join(sorted(settings.extra))}: it plays its script. Fix: send the "
                "request to a route of a real model, or leave those fields out",
                kind="bad_request",
            )
        prompt_chars, turns = self._count(messages)
        turn = self._next_turn(messages, turns)
        calls = tuple(
            RecordedToolCall(id=f"call_{turns}_{i}", name=n, arguments=a)
            for i, (n, a) in enumerate(turn.calls)
        )
        prompt_chars += sum(
            len(t.name) + len(t.description) + 40 * len(t.parameters.get("properties", {}))
            for t in tools
        )
        output_chars = len(turn.text or "") + sum(len(repr(c.arguments)) + 20 for c in calls)
        return ModelResponse(
            model=self.name,
            text=turn.text,
            tool_calls=calls,
            usage=Usage(input_tokens=prompt_chars // 4 + 1, output_tokens=output_chars // 4 + 1),
            finish_reason="tool_calls" if calls else "stop",
        )

    def _count(self, messages: Sequence[Message]) -> tuple[int, int]:
        """Characters and assistant turns in the conversation, counting only new messages."""
        seen = len(self._counted)
        if len(messages) < seen or any(
            messages[i] is not self._counted[i] for i in (0, seen - 1) if seen
        ):
            self._counted, self._counted_chars, self._counted_turns, seen = [], 0, 0, 0
        for message in messages[seen:]:
            self._counted.append(message)
            self._counted_chars += _chars(message)
            self._counted_turns += isinstance(message, AssistantMessage)
        return self._counted_chars, self._counted_turns

    def _next_turn(self, messages: Sequence[Message], index: int) -> Turn:
        if callable(self.script):
            return self.script(messages)
        # The turn is chosen by the conversation, not a counter, so a resumed run
        # (a new model object) continues where the recorded one stopped.
        if index >= len(self.script):
            raise ModelError(
                f"scripted model {self.name!r} has {len(self.script)} turns and was asked "
                f"for turn {index + 1}: extend the script or end it with a final text turn"
            )
        return self.script[index]


def _chars(message: Message) -> int:
    match message:
        case SystemMessage() | UserMessage() | ToolMessage():
            return len(message.content)
        case AssistantMessage():
            return len(message.text or "") + sum(len(repr(c.arguments)) for c in message.tool_calls)
