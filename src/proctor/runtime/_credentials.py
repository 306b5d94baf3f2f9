"""Credentials in the loop: one per permitted call of a scoped tool, a refusal a denial.

Just before a tool with declared scopes runs, the runtime issues its credential (a signed
JWT, rendered from the run's input) and records ``credential_issued`` with the same
commit as ``tool_started``: the claims and the token's id, never the token. Tools
without scopes get ``NoCredential`` and cost nothing. When a tool raises
``CredentialDenied``, the call is recorded as denied by policy with rule
``credential.denied``, and the contract's escalation applies as for any policy denial.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import orjson

from proctor.contracts import Contract, render_resources
from proctor.errors import CredentialDenied
from proctor.policy import CredentialIssuer, Decision, credential_denied
from proctor.store import CredentialIssued, EventData
from proctor.tools import NoCredential, ToolCredential

REDACTED = "[credential]"
"""What replaces a token that a tool put in its result or error."""


@dataclass(frozen=True, slots=True)
class Grant:
    """The credential for one call, the events recording it, or why none could be issued."""

    credential: ToolCredential
    events: tuple[EventData, ...] = ()
    denied: Decision | None = None


class RunCredentials:
    """Issues the credentials of one workflow's runs, from its contract's scopes."""

    def __init__(self, contract: Contract, issuer: CredentialIssuer | None = None) -> None:
        self._settings = contract.credentials
        self._scopes = contract.credentials.tools
        # Loaded up front when needed, so a bad key stops a run before it starts.
        self.issuer = issuer
        if issuer is None and self._scopes:
            self.issuer = CredentialIssuer.from_environment()

    def scoped(self, tool: str) -> bool:
        """Whether the contract declares scopes for ``tool``."""
        return tool in self._scopes

    def grant(
        self,
        *,
        run_id: str,
        call_id: str,
        tool: str,
        run_input: dict[str, Any],
        scopes: dict[str, Any] | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> Grant:
        """The credential for one call about to run (its resources rendered from the run's
        input and scopes); with ``enforce``, the call's own resource checked against it."""
        scope = self._scopes.get(tool)
        if scope is None or self.issuer is None:
            return _unscoped(tool)
        try:
            resources = render_resources(tool, scope.resources, run_input, scopes)
        except CredentialDenied as exc:
            return Grant(NoCredential(tool=tool), denied=credential_denied(str(exc)))
        credential = self.issuer.issue(
            run_id=run_id,
            call_id=call_id,
            tool=tool,
            actions=scope.actions,
            resources=resources,
            limits=scope.limits,
            ttl_seconds=scope.ttl_seconds or self._settings.ttl_seconds,
        )
        issued = CredentialIssued(
            call_id=call_id,
            tool=tool,
            jti=credential.jti,
            actions=list(credential.actions),
            limits=dict(credential.limits),
            issued_at=credential.issued_at,
            expires_at=credential.expires_at,
            resources=list(credential.resources),
        )
        if scope.enforce is not None:
            # The tool does not check its credential: Proctor checks the resource the call
            # asks for (every one, if the argument is a list) before it runs.
            try:
                for wanted in render_resources(tool, [scope.enforce], {}, args=arguments):
                    credential.require(scope.actions[0], resource=wanted)
            except CredentialDenied as exc:
                return Grant(credential, (issued,), denied=credential_denied(str(exc)))
        return Grant(credential, (issued,))


@functools.cache
def _unscoped(tool: str) -> Grant:
    """The grant of a tool without scopes: the same (immutable) one for every call."""
    return Grant(NoCredential(tool=tool))


def scrub(value: Any, credential: ToolCredential) -> Any:
    """``value`` with every occurrence of the credential's token replaced by ``REDACTED``.

    A tool should never return or raise its token; if it does, the token still never
    reaches the log, the model or an export.
    """
    token = credential.token
    if not token or value is None:
        return value
    if isinstance(value, str):
        return value.replace(token, REDACTED)
    if token not in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode():
        return value
    return _replace(value, token)


def _replace(value: Any, token: str) -> Any:
    if isinstance(value, str):
        return value.replace(token, REDACTED)
    if isinstance(value, list | tuple):
        return [_replace(item, token) for item in value]
    if isinstance(value, dict):
        return {_replace(k, token): _replace(v, token) for k, v in value.items()}
    return value
