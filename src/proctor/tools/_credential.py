"""What a tool sees of its call's credential: one ``require`` call, and nothing to leak.

The signed credential itself (``proctor.policy.Credential``) is issued by the runtime for
each permitted call of a tool whose contract declares scopes. This layer only names its
shape, so tools can be written and typed without importing the policy layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from proctor.errors import CredentialDenied


class ToolCredential(Protocol):
    """``ctx.credential``: the rights the contract grants this one call.

    Check before acting, with one call::

        ctx.credential.require("payment.create", resource=f"vendor:{vendor_id}", amount=amount)

    ``require`` returns nothing when the call is within its rights and raises
    ``CredentialDenied`` otherwise; the runtime records that as a policy denial.
    """

    @property
    def tool(self) -> str:
        """The tool the credential was issued for."""
        ...

    @property
    def token(self) -> str | None:
        """The signed token, to forward to a system that verifies it (never to return or log)."""
        ...

    def require(
        self,
        action: str,
        resource: str | None = None,
        amount: float | None = None,
        **quantities: float,
    ) -> None:
        """Raise ``CredentialDenied`` unless ``action`` on ``resource`` (and ``amount``,
        checked against ``max_amount``; any other ``name=value`` against ``max_<name>``)
        is granted."""
        ...


@dataclass(frozen=True, slots=True)
class NoCredential:
    """The credential of a tool whose contract declares no scopes: it grants nothing.

    No token is signed for such calls (they cost nothing); a tool that checks its
    credential is refused with a message telling the contract's author what to declare.
    """

    tool: str = ""
    token: str | None = None

    def require(
        self,
        action: str,
        resource: str | None = None,
        amount: float | None = None,
        **quantities: float,
    ) -> None:
        name = self.tool or "this tool"
        where = f" on {resource}" if resource is not None else ""
        key = f"credentials.tools.{self.tool}" if self.tool else "credentials.tools.<tool>"
        raise CredentialDenied(
            f"{name} asked for {action}{where}, but it has no credential: the workflow's "
            f"contract declares no credential scopes for it. Fix: declare them in the contract "
            f"under {key} (actions, resources, limits)"
        )
