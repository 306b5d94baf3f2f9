"""The outside agent as the loop's model (``AgentSession``'s side of the loop).

Each turn of the run waits for the agent's next move, an ``Action``: a call (its answer
resolves the action's future), the end (a final answer) or a failure (recorded as a model
error). The replies to a call are the transcript's tool messages after the agent's turn.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from proctor.errors import ModelError
from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Message,
    ModelCallError,
    ModelResponse,
    ToolMessage,
    ToolSpec,
)
from proctor.runtime import AGENT_MODEL_PREFIX
from proctor.store import RecordedToolCall, Usage


@dataclass(slots=True)
class Action:
    """The agent's next move: a call (with the future its answer resolves), the end or a
    failure; ``usage``: its model's tokens, recorded on the turn."""

    call_id: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    future: asyncio.Future[str] | None = None
    end_text: str | None = None
    failure: str | None = None
    usage: Usage = field(default_factory=Usage)


class AgentModel:
    """The outside agent, as the loop's model: each turn waits for the agent's next move."""

    def __init__(self, agent: str) -> None:
        self.name = AGENT_MODEL_PREFIX + agent
        self.actions: asyncio.Queue[Action] = asyncio.Queue()
        self.asked = asyncio.Event()
        """Set while the loop waits for the agent's next move."""
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._ended = False
        self._failed: str | None = None

    async def complete(
        self,
        messages: list[Message] | Any,
        tools: list[ToolSpec] | Any,
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        # The replies to the agent's last call(s) are the messages after its last turn.
        for message in reversed(messages):
            if isinstance(message, AssistantMessage):
                break
            if isinstance(message, ToolMessage):
                future = self._waiting.pop(message.call_id, None)
                if future is not None and not future.done():
                    future.set_result(message.content)
        if self._failed is not None:
            raise ModelCallError(self._failed, kind="bad_request")  # no retry, no fallback
        if self._ended:  # the end was refused (a required step, a final check)
            raise ModelError("the agent ended its session, and its end was not accepted")
        self.asked.set()
        try:
            action = await self.actions.get()
        finally:
            self.asked.clear()
        if action.failure is not None:  # recorded as a model error; the contract decides
            self._failed = action.failure
            raise ModelCallError(action.failure, kind="bad_request")
        if action.end_text is not None:
            self._ended = True
            return ModelResponse(model=self.name, text=action.end_text, usage=action.usage)
        assert action.future is not None
        self._waiting[action.call_id] = action.future
        call = RecordedToolCall(id=action.call_id, name=action.tool, arguments=action.arguments)
        return ModelResponse(
            model=self.name, tool_calls=(call,), finish_reason="tool_calls", usage=action.usage
        )


def add_usage(total: Usage, more: Usage | None) -> Usage:
    """``total`` plus ``more``."""
    if more is None:
        return total
    return total + more
