"""Proctor's errors.

Every failure a user can meet is a ``ProctorError`` whose message says what happened,
where, and how to fix it::

    ProctorError
    ├── ConfigError            a contract or config file is invalid (file, line, fix)
    ├── NotFoundError          a run, approval or workflow id that does not exist
    ├── StoreError             the store cannot be opened, or its schema is unknown
    │   └── ChainConflictError two writers tried to extend one run's chain
    ├── ModelError             a model provider failed or answered something unusable
    ├── ToolExecutionError     a tool raised; recorded on the run, shown to the model
    ├── CredentialDenied       a tool asked for more than its call's credential grants
    ├── ExportError            spans could not be exported (proctor.telemetry)
    ├── AccessDenied           an HTTP API request without a valid key, or beyond its role
    └── RunStateError          the run is not in a state that allows the request

Layers subclass these where a caller can act on the difference: ``ModelCallError`` and
``GatewayError`` (gateway), ``ApprovalExpiredError`` (runtime), ``CaseFileError``
(evals), ``ConditionError`` (contracts), ``InvalidCredential`` (policy).

``UsageError`` is separate: it means the API or CLI was called the wrong way.
"""

from __future__ import annotations


class ProctorError(Exception):
    """Root of every failure Proctor reports."""


class ConfigError(ProctorError):
    """A contract or config file is invalid; the message names file, line and fix."""


class NotFoundError(ProctorError):
    """A run, approval or workflow that does not exist."""


class StoreError(ProctorError):
    """The store cannot be opened or used."""


class ChainConflictError(StoreError):
    """Another writer appended to the same run at the same position."""


class ModelError(ProctorError):
    """A model provider failed or answered something unusable."""


class ToolExecutionError(ProctorError):
    """A tool raised while running."""


class CredentialDenied(ProctorError):
    """A tool asked for an action, resource or amount its call's credential does not grant.

    Raised by ``ctx.credential.require(...)``; the runtime records it as a policy denial
    (rule ``credential.denied``). ``policy.InvalidCredential`` is the subclass for a token
    that is tampered with, expired, or issued for another run or tool.
    """


class RunStateError(ProctorError):
    """The run's state does not allow the request (e.g. resuming a finished run)."""


class AccessDenied(ProctorError):
    """An HTTP API request carries no valid API key, or its key's role does not allow it.

    ``status`` is the HTTP status it answers: 401 (no usable key) or 403 (not allowed).
    """

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class UsageError(Exception):
    """Proctor was called the wrong way (bad arguments to an API or CLI command)."""
