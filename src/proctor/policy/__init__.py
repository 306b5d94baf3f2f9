"""Policy layer: decisions at the tool boundary, from a compiled contract."""

from __future__ import annotations

from proctor.errors import CredentialDenied
from proctor.policy._credentials import (
    Credential,
    CredentialIssuer,
    InvalidCredential,
    load_signing_key,
)
from proctor.policy._decision import Decision, ProposedCall
from proctor.policy._engine import Policy
from proctor.policy._redaction import Redactor

__all__ = [
    "Credential",
    "CredentialDenied",
    "CredentialIssuer",
    "Decision",
    "InvalidCredential",
    "Policy",
    "ProposedCall",
    "Redactor",
    "load_signing_key",
]
