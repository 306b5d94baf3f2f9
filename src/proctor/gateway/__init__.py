"""Gateway layer: the model interface, providers, routing, caching, limits and prices;
embeddings through the same routes (``Gateway.embed``)."""

from __future__ import annotations

from proctor.gateway._build import build_gateway
from proctor.gateway._cache import (
    MemoryCache,
    RedisCache,
    StoreCache,
    open_cache,
    response_cache_key,
    tool_cache_key,
)
from proctor.gateway._config import (
    CacheConfig,
    CooldownConfig,
    GatewayConfig,
    KeyConfig,
    ModelConfig,
    PriceConfig,
    RateLimitConfig,
    RetryConfig,
    find_config,
    load_config,
)
from proctor.gateway._deployment import Deployment, RouteOutcome
from proctor.gateway._embeddings import (
    EmbeddingClient,
    Embeddings,
    EmbedRequest,
    EmbedResult,
    EmbedSettings,
)
from proctor.gateway._errors import ErrorKind, GatewayError, ModelCallError, RateLimitExceeded
from proctor.gateway._gateway import Gateway
from proctor.gateway._gateway_stream import GatewayStream
from proctor.gateway._notify_config import ChannelConfig, NotificationsConfig
from proctor.gateway._price_table import PriceTable
from proctor.gateway._prices import Price
from proctor.gateway._ratelimit import MemoryRateLimiter, RedisRateLimiter, open_limiter
from proctor.gateway._request import GatewayResult, ModelRequest
from proctor.gateway._router import Router
from proctor.gateway._sso_config import SsoConfig
from proctor.gateway._stream import StreamInterrupted
from proctor.gateway._tokens import (
    REPLY_PRIMING_TOKENS,
    count_text,
    estimate_tokens,
    message_tokens,
    tools_tokens,
)
from proctor.gateway._types import (
    AssistantMessage,
    BucketLevels,
    CallSettings,
    Message,
    ModelClient,
    ModelDelta,
    ModelResponse,
    RateLimiter,
    RateLimits,
    ResponseCache,
    StreamingModelClient,
    SystemMessage,
    ToolCallDelta,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.gateway.providers.anthropic import AnthropicModel
from proctor.gateway.providers.openai import OpenAIModel
from proctor.gateway.providers.scripted import Script, ScriptedModel, Turn

__all__ = [
    "REPLY_PRIMING_TOKENS",
    "AnthropicModel",
    "AssistantMessage",
    "BucketLevels",
    "CacheConfig",
    "CallSettings",
    "ChannelConfig",
    "CooldownConfig",
    "Deployment",
    "EmbedRequest",
    "EmbedResult",
    "EmbedSettings",
    "EmbeddingClient",
    "Embeddings",
    "ErrorKind",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "GatewayResult",
    "GatewayStream",
    "KeyConfig",
    "MemoryCache",
    "MemoryRateLimiter",
    "Message",
    "ModelCallError",
    "ModelClient",
    "ModelConfig",
    "ModelDelta",
    "ModelRequest",
    "ModelResponse",
    "NotificationsConfig",
    "OpenAIModel",
    "Price",
    "PriceConfig",
    "PriceTable",
    "RateLimitConfig",
    "RateLimitExceeded",
    "RateLimiter",
    "RateLimits",
    "RedisCache",
    "RedisRateLimiter",
    "ResponseCache",
    "RetryConfig",
    "RouteOutcome",
    "Router",
    "Script",
    "ScriptedModel",
    "SsoConfig",
    "StoreCache",
    "StreamInterrupted",
    "StreamingModelClient",
    "SystemMessage",
    "ToolCallDelta",
    "ToolMessage",
    "ToolSpec",
    "Turn",
    "UserMessage",
    "build_gateway",
    "count_text",
    "estimate_tokens",
    "find_config",
    "load_config",
    "message_tokens",
    "open_cache",
    "open_limiter",
    "response_cache_key",
    "tool_cache_key",
    "tools_tokens",
]
