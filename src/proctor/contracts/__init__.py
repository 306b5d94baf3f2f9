"""Contracts layer: workflow contracts in YAML, loaded into typed models."""

from __future__ import annotations

from proctor.contracts._model import (
    ApprovalRule,
    Contract,
    Escalation,
    EscalationSetting,
    Limits,
    OrderingRule,
)

__all__ = [
    "ApprovalRule",
    "Contract",
    "Escalation",
    "EscalationSetting",
    "Limits",
    "OrderingRule",
]
