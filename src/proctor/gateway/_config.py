"""``proctor.yaml``: the models a project may call, their routes, and the gateway's policies.

Example::

    models:
      small:
        model: gpt-4o-mini
        base_url: http://127.0.0.1:8000/v1
        api_key_env: OPENAI_API_KEY
        context_window: 128000
        price: {input: 0.15, output: 0.60, cached_input: 0.075}
      large: {model: gpt-4o, context_window: 128000}
    routes:
      default: [small, large]
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from proctor._yaml import load_yaml_file
from proctor.errors import ConfigError
from proctor.gateway._notify_config import NotificationsConfig
from proctor.gateway._price_table import PriceTable
from proctor.gateway._prices import Price
from proctor.gateway._sso_config import SsoConfig

CONFIG_FILE = "proctor.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceConfig(_Strict):
    """USD per million tokens."""

    input: NonNegativeFloat
    output: NonNegativeFloat
    cached_input: NonNegativeFloat | None = None
    """Price of prompt tokens the provider served from its own cache (default: ``input``)."""
    cache_write: NonNegativeFloat | None = None
    """Price of prompt tokens written to the provider's cache (default: ``input``)."""

    def to_price(self) -> Price:
        return Price(
            input_per_million=self.input,
            output_per_million=self.output,
            cached_input_per_million=self.cached_input,
            cache_write_per_million=self.cache_write,
        )


class ModelConfig(_Strict):
    """One deployment: a model at an endpoint, with its limits and price."""

    provider: Literal["openai", "anthropic", "scripted"] = "openai"
    """``openai`` is any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, another gateway);
    ``anthropic`` is Anthropic's Messages API (Claude)."""
    model: str
    """The provider's model name; also how the shipped price table finds its price."""
    base_url: str | None = None
    """Default: ``$OPENAI_BASE_URL`` or OpenAI's; ``$ANTHROPIC_BASE_URL`` or
    https://api.anthropic.com for ``anthropic``."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (never the key itself); ``ANTHROPIC_API_KEY``
    by default for ``anthropic``."""
    context_window: PositiveInt | None = None
    price: PriceConfig | None = None
    timeout_s: PositiveFloat = 60.0
    rpm: PositiveInt | None = None
    """Requests per minute this deployment accepts."""
    tpm: PositiveInt | None = None
    """Tokens per minute this deployment accepts."""

    @model_validator(mode="before")
    @classmethod
    def _anthropic_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("provider") == "anthropic":
            data = {"api_key_env": "ANTHROPIC_API_KEY", **data}
        return data


class RetryConfig(_Strict):
    """Retries of one deployment before falling back to the next."""

    max_retries: int = Field(default=2, ge=0)
    backoff_s: PositiveFloat = 0.5
    """First backoff; doubles each retry, with full jitter."""
    max_backoff_s: PositiveFloat = 8.0


class CooldownConfig(_Strict):
    """Circuit breaker: after ``allowed_failures`` in a row, skip a deployment for a while."""

    allowed_failures: PositiveInt = 3
    cooldown_s: PositiveFloat = 30.0


REDIS_URL_ENV = "PROCTOR_REDIS_URL"


def default_redis_url() -> str:
    """Where Redis is when ``redis_url`` is not given: ``$PROCTOR_REDIS_URL`` (a deployment
    names it in the environment, as it names the store), else the local default."""
    return os.environ.get(REDIS_URL_ENV, "").strip() or "redis://127.0.0.1:6379/0"


class CacheConfig(_Strict):
    """``cache:``: where identical model calls are answered from, and for how long."""

    backend: Literal["store", "redis", "none"] = "store"
    redis_url: str = Field(default_factory=lambda: default_redis_url())
    """Default: ``$PROCTOR_REDIS_URL``, else ``redis://127.0.0.1:6379/0``."""
    ttl_s: PositiveFloat = 3600.0
    cache_sampled: bool = False
    """Also cache calls with temperature > 0 (off: a sampled answer is meant to vary)."""


class RateLimitConfig(_Strict):
    """``rate_limits:``: where the per-deployment limits are counted (one process, or
    Redis for many), and how long a call may wait for capacity."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = Field(default_factory=lambda: default_redis_url())
    """Default: ``$PROCTOR_REDIS_URL``, else ``redis://127.0.0.1:6379/0``."""
    max_wait_s: NonNegativeFloat = 5.0
    """How long a call may wait for capacity before it fails."""


class KeyConfig(_Strict):
    """An API key of the OpenAI-compatible endpoint, with its own limits and budget."""

    name: str
    key_env: str | None = None
    key_sha256: str | None = None
    budget_usd: PositiveFloat | None = None
    period: Literal["day", "month"] = "day"
    rpm: PositiveInt | None = None
    tpm: PositiveInt | None = None
    routes: list[str] | None = None
    """Routes this key may use (default: all)."""

    @model_validator(mode="after")
    def _one_secret(self) -> KeyConfig:
        if (self.key_env is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of key_env or key_sha256")
        return self


class GatewayConfig(_Strict):
    """The whole ``proctor.yaml`` gateway section."""

    models: dict[str, ModelConfig] = Field(default_factory=dict)
    routes: dict[str, list[str]] = Field(default_factory=dict)
    """Alias -> ordered fallback chain of model names."""
    default_route: str | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    cooldown: CooldownConfig = Field(default_factory=CooldownConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    keys: list[KeyConfig] = Field(default_factory=list)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    """Price overrides by provider model name (USD per million tokens)."""
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    """Where pending approvals are announced (``proctor.notifications``)."""
    sso: SsoConfig | None = None
    """Single sign-on to the web UI with an OpenID Connect provider (``proctor serve``)."""
    workflows: list[str] = Field(default_factory=list)
    """Workflows (``package.module:attribute`` or registered names) this project's servers,
    workers and resumes may run: what an API request, a queued run or a stored run can name."""

    def price_table(self) -> PriceTable:
        """``prices:`` first, then the published list prices (with or without ``models:``:
        a run on ``openai:<model>`` is priced from here too)."""
        return PriceTable({model: p.to_price() for model, p in self.prices.items()})

    @model_validator(mode="after")
    def _routes_name_models(self) -> GatewayConfig:
        for alias, chain in self.routes.items():
            if not chain:
                raise ValueError(f"route {alias!r} is empty: list at least one model")
            for name in chain:
                if name not in self.models:
                    raise ValueError(
                        _unknown(f"route {alias!r} names model {name!r}", name, self.models)
                    )
        route = self.default_route
        if route is not None and route not in self.routes and route not in self.models:
            raise ValueError(_unknown(f"default_route {route!r}", route, self.routes))
        return self

    def chain(self, name: str) -> list[str]:
        """The fallback chain a route (or a single model name) stands for."""
        if name in self.routes:
            return list(self.routes[name])
        if name in self.models:
            return [name]
        known = sorted({*self.routes, *self.models})
        raise ConfigError(_unknown(f"no route or model named {name!r}", name, known))


def _unknown(what: str, name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = (
        f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known)) or 'none'}"
    )
    return f"{what}, which is not defined. Fix: {hint}"


def find_config(path: str | Path | None = None) -> Path | None:
    """``path``, else ``$PROCTOR_CONFIG``, else ``./proctor.yaml`` if it exists."""
    if path is not None:
        return Path(path)
    env = os.environ.get("PROCTOR_CONFIG")
    if env:
        return Path(env)
    local = Path(CONFIG_FILE)
    return local if local.exists() else None


def load_config(path: str | Path | None = None, *, check_env: bool = True) -> GatewayConfig:
    """Load and validate ``proctor.yaml``; an absent default file gives an empty config.

    Every problem is refused at start with the file, the key and the fix. With
    ``check_env``, each model's API-key variable must be set.
    """
    found = find_config(path)
    if found is None:
        return GatewayConfig()
    raw = load_yaml_file(found, kind="config file") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{found}: must be a mapping of keys (models:, routes:, ...)")
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(found, exc)) from None
    if check_env:
        for name, model in config.models.items():
            if model.provider != "scripted" and not os.environ.get(model.api_key_env):
                raise ConfigError(
                    f"{found}: models.{name}.api_key_env names {model.api_key_env}, which is not "
                    f"set. Fix: export {model.api_key_env}=... (any value for servers without keys)"
                )
    return config


def _explain(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against docs/gateway.md"
        elif error["type"] == "literal_error":
            message = f"{message} (got {error.get('input')!r})"
        problems.append(f"{path}: {where}: {message}")
    return "\n".join(problems)
