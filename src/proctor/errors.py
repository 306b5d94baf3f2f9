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
    ├── RunStateError          the run is not in a state that allows the request
    └── MissingExtraError      a feature whose optional dependencies are not installed
                               (also an ImportError); the message names the install command

Layers subclass these where a caller can act on the difference: ``ModelCallError`` and
``GatewayError`` (gateway), ``ApprovalExpiredError`` (runtime), ``CaseFileError``
(evals), ``ConditionError`` (contracts), ``InvalidCredential`` (policy).

``UsageError`` is separate: it means the API or CLI was called the wrong way.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


EXTRA_OF_MODULE = {
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "httptools": "server",
    "authlib": "server",
    "joserfc": "server",
    "uvloop": "server",
    "jinja2": "server",
    "multipart": "server",
    "python_multipart": "server",
    "swagger_ui_bundle": "server",
    "psycopg": "postgres",
    "psycopg_pool": "postgres",
    "opentelemetry": "otel",
    "redis": "redis",
    "mcp": "mcp",
    "mcp_types": "mcp",
    "pydantic_ai": "pydantic-ai",
    "presidio_analyzer": "presidio",
    "agents": "openai-agents",
    "langgraph": "langgraph",
    "langchain_core": "langgraph",
    "langchain": "langgraph",
}
"""The extra (pyproject.toml ``[project.optional-dependencies]``) each optional import
comes from; the core imports none of them."""


DISTRIBUTION = "proctor-runtime"
"""Proctor's name on PyPI (``proctor`` there is another project): ``pip install
proctor-runtime``. The import package and the command are ``proctor``."""


def install_command(requirement: str) -> str:
    """A command that installs ``requirement`` into the environment running this code.

    ``pip install`` alone may reach another interpreter, and an environment built by uv
    (``make demo``'s) has no pip: name this interpreter, and the installer it has.
    """
    python = sys.executable or "python"
    if importlib.util.find_spec("pip") is not None:
        return f"{python} -m pip install '{requirement}'"
    uv = shutil.which("uv") or _project_uv()
    if uv is not None:
        return f"{uv} pip install --python {python} '{requirement}'"
    return f"{python} -m ensurepip && {python} -m pip install '{requirement}'"


def _project_uv() -> str | None:
    """The uv that this repository's Makefile installed, when running from its ``.venv``."""
    found = Path(sys.prefix).parent / ".tools" / "uv" / "bin" / "uv"
    return str(found) if found.is_file() else None


class MissingExtraError(ProctorError, ImportError):
    """A feature was used whose optional dependencies (an extra) are not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        command = install_command(f"{DISTRIBUTION}[{extra}]")
        super().__init__(f"{feature} needs the {extra} extra: {command}")
        self.feature = feature
        self.extra = extra


@contextmanager
def needs_extra(feature: str) -> Iterator[None]:
    """Imports inside this block that fail for want of an extra raise ``MissingExtraError``
    naming ``feature`` and the install command; other import errors pass unchanged.

    Blocks nest: the outermost names the feature, as the one the user asked for.
    """
    try:
        yield
    except ImportError as exc:
        extra = exc.extra if isinstance(exc, MissingExtraError) else extra_of(exc)
        if extra is None:
            raise
        raise MissingExtraError(feature, extra) from exc


def extra_of(exc: ImportError) -> str | None:
    """The extra that installs the module ``exc`` could not import, if it is optional."""
    return EXTRA_OF_MODULE.get((exc.name or "").partition(".")[0])


class UsageError(Exception):
    """Proctor was called the wrong way (bad arguments to an API or CLI command)."""
