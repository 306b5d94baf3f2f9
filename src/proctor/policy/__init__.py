"""Policy layer: decisions at the tool boundary, from a compiled contract."""

from __future__ import annotations

from proctor.policy._decision import Decision, ProposedCall
from proctor.policy._engine import Policy

__all__ = ["Decision", "Policy", "ProposedCall"]
