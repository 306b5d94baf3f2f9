"""Tools layer: typed tools and the registry the runtime calls through."""

from __future__ import annotations

from proctor.tools._credential import NoCredential, ToolCredential
from proctor.tools._registry import Registry
from proctor.tools._tool import Effect, Risk, Tool, ToolArgumentsError, ToolContext, tool

__all__ = [
    "Effect",
    "NoCredential",
    "Registry",
    "Risk",
    "Tool",
    "ToolArgumentsError",
    "ToolContext",
    "ToolCredential",
    "tool",
]
