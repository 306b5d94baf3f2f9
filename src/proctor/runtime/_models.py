"""Turning a model spec into the gateway and route a run calls."""

from __future__ import annotations

from proctor.errors import UsageError
from proctor.gateway import Gateway, ModelClient, PriceTable
from proctor.runtime._workflow import Workflow


def single(client: ModelClient, prices: PriceTable) -> tuple[Gateway, str]:
    """A one-deployment gateway around ``client``; the route is the client's name."""
    priced_as = getattr(client, "priced_as", None) or client.name
    return Gateway.single(client, price=prices.price(priced_as)), client.name


def resolve_model(
    workflow: Workflow,
    spec: str,
    *,
    gateway: Gateway | None = None,
    prices: PriceTable | None = None,
) -> tuple[Gateway, str]:
    """The gateway and route a model spec names.

    A route or model of the project's ``proctor.yaml`` (``gateway``) is used as is;
    ``scripted:<scenario>`` picks one of the workflow's scripted test doubles;
    ``openai:<model>`` calls an OpenAI-compatible endpoint configured by
    ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``.
    """
    prices = prices or PriceTable()
    if gateway is not None and spec in gateway.routes:
        return gateway, spec
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
        return single(factory(), prices)
    if provider == "openai":
        from proctor.gateway import OpenAIModel

        return single(OpenAIModel(name), prices)
    routes = ", ".join(sorted(gateway.routes)) if gateway is not None else "none configured"
    raise UsageError(
        f"unknown model {spec!r}: use a route of proctor.yaml ({routes}), "
        "scripted:<scenario> or openai:<model>"
    )
