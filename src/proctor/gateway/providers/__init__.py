"""Model providers: the clients a ``Deployment`` calls.

- ``anthropic``: ``AnthropicModel``, Claude through Anthropic's Messages API (no SDK);
- ``openai``: ``OpenAIModel``, any OpenAI-compatible API through the official SDK;
- ``openai_lean``: ``LeanOpenAIModel``, the same API without the SDK (the endpoint's
  upstream client: ~0.1 ms of CPU a call where the SDK takes ~3 ms);
- ``scripted``: ``ScriptedModel``, a deterministic test double;
- ``wire``: OpenAI's chat-completions format, the one reading both OpenAI clients share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proctor.gateway.providers.anthropic import AnthropicModel
from proctor.gateway.providers.openai import OpenAIModel
from proctor.gateway.providers.scripted import Script, ScriptedModel, Turn

if TYPE_CHECKING:
    from proctor.gateway.providers.openai_lean import LeanOpenAIModel


def __getattr__(name: str) -> Any:
    # httptools costs ~50 ms to import: loaded by those who use the lean client only.
    if name == "LeanOpenAIModel":
        from proctor.gateway.providers.openai_lean import LeanOpenAIModel

        return LeanOpenAIModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AnthropicModel", "LeanOpenAIModel", "OpenAIModel", "Script", "ScriptedModel", "Turn"]
