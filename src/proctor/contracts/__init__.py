"""Contracts layer: workflow contracts in YAML, loaded into typed models."""

from __future__ import annotations

from proctor.contracts._cel import CompiledCondition, ConditionError, compile_condition
from proctor.contracts._check import ContractProblem
from proctor.contracts._loader import (
    check_contract_file,
    load_contract,
    load_contracts,
    parse_contracts,
)
from proctor.contracts._model import (
    ApprovalRule,
    Contract,
    EscalateOn,
    Escalation,
    EscalationSetting,
    Limits,
    ModelPolicy,
    OrderingRule,
)

__all__ = [
    "ApprovalRule",
    "CompiledCondition",
    "ConditionError",
    "Contract",
    "ContractProblem",
    "EscalateOn",
    "Escalation",
    "EscalationSetting",
    "Limits",
    "ModelPolicy",
    "OrderingRule",
    "check_contract_file",
    "compile_condition",
    "load_contract",
    "load_contracts",
    "parse_contracts",
]
