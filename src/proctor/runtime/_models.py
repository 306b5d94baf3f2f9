"""Turning a model spec (``scripted:procedure``, ``openai:gpt-4o-mini``) into a client."""

from __future__ import annotations

from proctor.errors import UsageError
from proctor.gateway import ModelClient
from proctor.runtime._workflow import Workflow


def resolve_model(workflow: Workflow, spec: str) -> ModelClient:
    """Build the model client a spec names.

    ``scripted:<scenario>`` picks one of the workflow's scripted test doubles;
    ``openai:<model>`` (or a bare model name) calls an OpenAI-compatible endpoint,
    configured by ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``.
    """
    provider, _, name = spec.partition(":")
    if not name:
        provider, name = "openai", spec
    if provider == "scripted":
        factory = workflow.scripts.get(name)
        if factory is None:
            known = ", ".join(f"scripted:{n}" for n in sorted(workflow.scripts)) or "none"
            raise UsageError(
                f"workflow {workflow.name!r} has no scripted model {name!r}; known: {known}"
            )
        return factory()
    if provider == "openai":
        from proctor.gateway import OpenAIModel

        return OpenAIModel(name)
    raise UsageError(
        f"unknown model provider {provider!r} in {spec!r}: use scripted:<scenario> or "
        "openai:<model>"
    )
