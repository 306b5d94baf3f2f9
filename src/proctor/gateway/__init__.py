"""Gateway layer: the model interface, providers, and prices."""

from __future__ import annotations

from proctor.gateway._openai import OpenAIModel
from proctor.gateway._prices import DEFAULT_PRICES, Price, PriceTable
from proctor.gateway._scripted import Script, ScriptedModel, Turn
from proctor.gateway._types import (
    AssistantMessage,
    Message,
    ModelClient,
    ModelResponse,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)

__all__ = [
    "DEFAULT_PRICES",
    "AssistantMessage",
    "Message",
    "ModelClient",
    "ModelResponse",
    "OpenAIModel",
    "Price",
    "PriceTable",
    "Script",
    "ScriptedModel",
    "SystemMessage",
    "ToolMessage",
    "ToolSpec",
    "Turn",
    "UserMessage",
]
