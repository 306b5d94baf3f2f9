"""Proctor: run LLM tool-using agents under explicit control.

Typed tools the model can call (and nothing else), workflow contracts enforced at the
tool boundary, and every run an append-only, hash-chained log that can be resumed,
audited and replayed.
"""

from __future__ import annotations

# Modules, not names from them: the package's public names are exactly its __all__.
import importlib
import typing

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

if typing.TYPE_CHECKING:
    from proctor.audit import Receipt, build_receipt
    from proctor.contracts import (
        Contract,
        ContractProblem,
        check_contract_file,
        load_contract,
        load_contracts,
    )
    from proctor.gateway import (
        ModelClient,
        ModelResponse,
        OpenAIModel,
        PriceTable,
        ScriptedModel,
        Turn,
    )
    from proctor.policy import Decision, Policy
    from proctor.runtime import Runner, RunResult, Workflow, decide_approval
    from proctor.store import Event, RunState, SQLiteStore, Store, open_store, verify_run
    from proctor.tools import Registry, Tool, ToolContext, tool

# Loaded on first use (PEP 562): `import proctor.cli` for `proctor --help` does not pay for
# every layer. The layer each name comes from:
_LAZY = {
    name: layer
    for layer, names in {
        "audit": ("Receipt", "build_receipt"),
        "contracts": (
            "Contract",
            "ContractProblem",
            "check_contract_file",
            "load_contract",
            "load_contracts",
        ),
        "gateway": (
            "ModelClient",
            "ModelResponse",
            "OpenAIModel",
            "PriceTable",
            "ScriptedModel",
            "Turn",
        ),
        "policy": ("Decision", "Policy"),
        "runtime": ("Runner", "RunResult", "Workflow", "decide_approval"),
        "store": ("Event", "RunState", "SQLiteStore", "Store", "open_store", "verify_run"),
        "tools": ("Registry", "Tool", "ToolContext", "tool"),
    }.items()
    for name in names
}


def __getattr__(name: str) -> typing.Any:
    layer = _LAZY.get(name)
    if layer is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"proctor.{layer}"), name)
    globals()[name] = value  # later look-ups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
