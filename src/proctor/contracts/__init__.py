"""Contracts layer: workflow contracts in YAML, loaded into typed models."""

from __future__ import annotations

from proctor._yaml import KeyPath, dotted
from proctor.contracts._cel import (
    CALL_ROOTS,
    FINAL_ROOTS,
    FUNCTIONS,
    SCOPE_ROOTS,
    CompiledCondition,
    ConditionCompileError,
    ConditionError,
    call_arguments,
    compile_condition,
    expand_exists_call,
)
from proctor.contracts._check import ContractProblem, nearest_line, show
from proctor.contracts._credentials import Credentials, CredentialScope, render_resources
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
    Rollout,
    ToolDeclaration,
)
from proctor.contracts._redaction import (
    DetectorAction,
    Redaction,
    RedactionAction,
    RedactionDetectors,
    RedactionPattern,
)
from proctor.contracts._rollout import canary_bucket
from proctor.contracts._rules import FinalCheck, Rule, SourceTrust, TrustSpec, Violation
from proctor.contracts._versions import (
    ContractChange,
    ContractDiff,
    canonical_yaml,
    contract_record,
    diff_contracts,
    stored_contract,
)

__all__ = [
    "CALL_ROOTS",
    "FINAL_ROOTS",
    "FUNCTIONS",
    "SCOPE_ROOTS",
    "ApprovalRule",
    "CompiledCondition",
    "ConditionCompileError",
    "ConditionError",
    "Contract",
    "ContractChange",
    "ContractDiff",
    "ContractProblem",
    "CredentialScope",
    "Credentials",
    "DetectorAction",
    "EscalateOn",
    "Escalation",
    "EscalationSetting",
    "FinalCheck",
    "KeyPath",
    "Limits",
    "ModelPolicy",
    "OrderingRule",
    "Redaction",
    "RedactionAction",
    "RedactionDetectors",
    "RedactionPattern",
    "Rollout",
    "Rule",
    "SourceTrust",
    "ToolDeclaration",
    "TrustSpec",
    "Violation",
    "call_arguments",
    "canary_bucket",
    "canonical_yaml",
    "check_contract_file",
    "compile_condition",
    "contract_record",
    "diff_contracts",
    "dotted",
    "expand_exists_call",
    "load_contract",
    "load_contracts",
    "nearest_line",
    "parse_contracts",
    "render_resources",
    "show",
    "stored_contract",
]
