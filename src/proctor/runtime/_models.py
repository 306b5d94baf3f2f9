"""Turning a model spec into the gateway and route a run calls."""

from __future__ import annotations

from proctor.errors import ConfigError, RunStateError, UsageError
from proctor.gateway import Gateway, ModelClient, Price, PriceTable
from proctor.runtime._workflow import Workflow

SCRIPTED_PREFIX = "scripted:"
AGENT_MODEL_PREFIX = "agent:"
"""The model of a run an outside agent drives (``agent:<name>``, ``proctor.integrations``)."""
OBSERVED_MODEL_PREFIX = "observed:"
"""The model of an *observed* run: an agent's trace, recorded after the fact under the
workflow's contract (``observed:<source>``, ``proctor eval import`` and ``/v1/traces``)."""
_EXTERNAL = {
    AGENT_MODEL_PREFIX: "an outside agent (an MCP client, a framework's agent loop): its runs "
    "go on only in its own session, when the agent makes its next call. Fix: repeat the "
    "agent's call (a decided approval continues then)",
    OBSERVED_MODEL_PREFIX: "an observed trace, recorded after the agent ran: nothing can "
    "continue it, since the calls it records happened elsewhere. Fix: import the trace again "
    "(proctor eval import) to record it anew",
}


def is_external_model(model: str) -> bool:
    """Whether a run with this model is driven from outside Proctor (an agent's session,
    or an observed trace): such a run is never resumed by another process."""
    return model.startswith(tuple(_EXTERNAL))


def external_model_problem(model: str) -> str | None:
    """Why a run with this model cannot be continued here, or ``None``."""
    for prefix, why in _EXTERNAL.items():
        if model.startswith(prefix):
            return f"model {model!r} is {why}"
    return None


_FREE = Price(input_per_million=0.0, output_per_million=0.0)


def single(client: ModelClient, prices: PriceTable) -> tuple[Gateway, str]:
    """A one-deployment gateway around ``client``; the route is the client's name.

    A scripted model priced as no real model costs nothing (it calls nothing), so a
    workflow's own test doubles run under a contract that caps cost."""
    priced_as = getattr(client, "priced_as", None)
    price = prices.price(priced_as or client.name)
    if price is None and priced_as is None and client.name.startswith(SCRIPTED_PREFIX):
        price = _FREE
    return Gateway.single(client, price=price), client.name


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
    ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``; ``anthropic:<model>`` calls Anthropic's
    Messages API (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``).
    """
    prices = prices or PriceTable()
    if gateway is not None and spec in gateway.routes:
        return gateway, spec
    provider, _, name = spec.partition(":")
    if not name:
        provider, name = "openai", spec
    external = external_model_problem(spec)
    if external is not None:
        raise RunStateError(external)
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
    if provider == "anthropic":
        from proctor.gateway import AnthropicModel

        return single(AnthropicModel(name), prices)
    routes = ", ".join(sorted(gateway.routes)) if gateway is not None else "none configured"
    raise UsageError(
        f"unknown model {spec!r}: use a route of proctor.yaml ({routes}), "
        "scripted:<scenario>, openai:<model> or anthropic:<model>"
    )


def run_model(
    workflow: Workflow,
    spec: str,
    *,
    gateway: Gateway | None,
    prices: PriceTable,
    override: ModelClient | None = None,
) -> tuple[Gateway, str]:
    """The gateway and route a run of ``workflow`` calls for ``spec`` (``override``: one
    client for every spec), refusing what its contract could not enforce."""
    if override is not None:
        gateway, route = single(override, prices)
    else:
        gateway, route = resolve_model(workflow, spec, gateway=gateway, prices=prices)
    contract = workflow.contract
    escalate_to = contract.model.escalate_to
    if escalate_to is not None and escalate_to not in gateway.routes:
        raise ConfigError(
            f"the {workflow.name} contract escalates to {escalate_to!r}, which is not a "
            f"route of this gateway ({', '.join(sorted(gateway.routes))}). Fix: define it "
            "in proctor.yaml, or run with a model spec from there"
        )
    ceiling = contract.limits.max_cost_usd
    if ceiling is not None:
        for name in {route, escalate_to} - {None}:
            first = gateway.chain(name)[0]
            if gateway.price(first) is None:
                raise ConfigError(
                    f"the {workflow.name} contract caps cost at ${ceiling:g}, but model "
                    f"{first.model!r} has no price (neither proctor.yaml nor the published "
                    "table, genai-prices, lists it), so the cap could not be enforced. Fix: "
                    "give its price in proctor.yaml (in the working directory, or the file "
                    "named by proctor --config FILE): prices: "
                    f"{{{first.model}: {{input: <USD per million tokens>, "
                    "output: <USD per million tokens>}} (0 and 0 for a model you host), or "
                    "remove limits.max_cost_usd"
                )
    return gateway, route


def checker_model(
    workflow: Workflow, gateway: Gateway | None, prices: PriceTable
) -> tuple[Gateway, str]:
    """The gateway and route of ``workflow``'s checker model."""
    spec = workflow.contract.checker.model
    if spec is None:
        raise ConfigError(
            f"the {workflow.name} contract has an approval decided by a checker "
            "but no checker.model. Fix: set checker.model in the contract"
        )
    return resolve_model(workflow, spec, gateway=gateway, prices=prices)
