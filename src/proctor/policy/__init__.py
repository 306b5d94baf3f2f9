"""Policy layer: decisions at the tool boundary, from a compiled contract."""

from __future__ import annotations

from proctor.errors import CredentialDenied
from proctor.policy._consequence import (
    AskApproval,
    Consequence,
    Escalate,
    FailRun,
    RecordDraft,
    ReturnToModel,
    RunTool,
    StopAtCeiling,
    consequence,
)
from proctor.policy._credentials import Credential, CredentialIssuer, InvalidCredential
from proctor.policy._decision import RULE_IDS, Decision, ProposedCall, RuleId
from proctor.policy._engine import Policy
from proctor.policy._facts import CallFact, RunFacts
from proctor.policy._provenance import Provenance, Trace
from proctor.policy._pseudonyms import pseudonymize
from proctor.policy._redaction import Redactor, identity_key, name_mac, pseudonym_key
from proctor.policy._rules import (
    approval_denied,
    approval_expired,
    approval_granted,
    cost_refused,
    credential_denied,
    model_failed,
    runtime_exceeded,
    tool_failed,
)
from proctor.store import load_signing_key

__all__ = [
    "RULE_IDS",
    "AskApproval",
    "CallFact",
    "Consequence",
    "Credential",
    "CredentialDenied",
    "CredentialIssuer",
    "Decision",
    "Escalate",
    "FailRun",
    "InvalidCredential",
    "Policy",
    "ProposedCall",
    "Provenance",
    "RecordDraft",
    "Redactor",
    "ReturnToModel",
    "RuleId",
    "RunFacts",
    "RunTool",
    "StopAtCeiling",
    "Trace",
    "approval_denied",
    "approval_expired",
    "approval_granted",
    "consequence",
    "cost_refused",
    "credential_denied",
    "identity_key",
    "load_signing_key",
    "model_failed",
    "name_mac",
    "pseudonym_key",
    "pseudonymize",
    "runtime_exceeded",
    "tool_failed",
]
