"""Proctor: run LLM tool-using agents under explicit control.

Typed tools the model can call (and nothing else), workflow contracts enforced at the
tool boundary, and every run an append-only, hash-chained log that can be resumed,
audited and replayed.
"""

from __future__ import annotations

from proctor.audit import Receipt, build_receipt
from proctor.contracts import (
    Contract,
    ContractProblem,
    check_contract_file,
    load_contract,
    load_contracts,
)
from proctor.errors import (
    ChainConflictError,
    ConfigError,
    CredentialDenied,
    ModelError,
    NotFoundError,
    ProctorError,
    RunStateError,
    StoreError,
    ToolExecutionError,
    UsageError,
)
from proctor.gateway import ModelClient, ModelResponse, OpenAIModel, PriceTable, ScriptedModel, Turn
from proctor.policy import Decision, Policy
from proctor.runtime import Runner, RunResult, Workflow, decide_approval
from proctor.store import Event, RunState, SQLiteStore, Store, open_store, verify_run
from proctor.tools import Registry, Tool, ToolContext, tool

__version__ = "0.1.0"

__all__ = [
    "ChainConflictError",
    "ConfigError",
    "Contract",
    "ContractProblem",
    "CredentialDenied",
    "Decision",
    "Event",
    "ModelClient",
    "ModelError",
    "ModelResponse",
    "NotFoundError",
    "OpenAIModel",
    "Policy",
    "PriceTable",
    "ProctorError",
    "Receipt",
    "Registry",
    "RunResult",
    "RunState",
    "RunStateError",
    "Runner",
    "SQLiteStore",
    "ScriptedModel",
    "Store",
    "StoreError",
    "Tool",
    "ToolContext",
    "ToolExecutionError",
    "Turn",
    "UsageError",
    "Workflow",
    "__version__",
    "build_receipt",
    "check_contract_file",
    "decide_approval",
    "load_contract",
    "load_contracts",
    "open_store",
    "tool",
    "verify_run",
]
