"""``RecordedModel``: plays a recorded run's model responses back, turn by turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proctor.errors import ModelError
from proctor.evals._case import Recording
from proctor.gateway import AssistantMessage, CallSettings, Message, ModelResponse, ToolSpec
from proctor.store import RecordedToolCall


@dataclass(kw_only=True)
class RecordedModel:
    """A model client whose n-th answer is the recording's n-th response.

    The turn is read from the conversation (its assistant messages), not a counter, so a
    run resumed after an approval continues where it stopped. Usage is the recorded
    usage, priced as ``recording.priced_as``; a run that asks for more turns than were
    recorded has diverged, and gets a ``ModelError``.
    """

    recording: Recording

    @property
    def name(self) -> str:
        return f"recorded:{self.recording.model}"

    @property
    def priced_as(self) -> str:
        return self.recording.priced_as or self.recording.model

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        turn = sum(1 for message in messages if isinstance(message, AssistantMessage))
        responses = self.recording.responses
        if turn >= len(responses):
            raise ModelError(
                f"the recording has {len(responses)} model responses and the replay asked for "
                f"response {turn + 1}: the run diverged from the recording"
            )
        response = responses[turn]
        calls = tuple(
            RecordedToolCall(id=f"call_{turn}_{i}", name=name, arguments=dict(arguments))
            for i, (name, arguments) in enumerate(response.calls)
        )
        return ModelResponse(
            model=self.recording.model,
            text=response.text,
            tool_calls=calls,
            usage=response.usage,
            finish_reason="tool_calls" if calls else "stop",
        )
