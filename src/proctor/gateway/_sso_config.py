"""``proctor.yaml``'s ``sso:``: people sign in to the web UI with an OpenID Connect provider.

Example (Keycloak; Okta, Google, Entra ID and others differ only in the issuer and claims)::

    sso:
      issuer: https://keycloak.example.com/realms/acme
      client_id: proctor
      client_secret_env: PROCTOR_OIDC_SECRET   # the secret itself never sits in the file
      roles:
        claim: realm_access.roles              # a dotted path into the ID token's claims
        map: {proctor-admins: admin, proctor-approvers: approver, proctor-operators: operator}
      tenants:
        claim: tenant                           # absent: everyone is in tenant `default`

The sign-in itself lives in ``proctor.server``; this is only what the file may say.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator, model_validator

RoleName = Literal["viewer", "operator", "approver", "admin"]

_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CLAIM_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleClaim(_Strict):
    """Which claim gives a person's Proctor role(s), and how its values map to roles."""

    claim: str = Field(default="groups", pattern=_CLAIM_PATH.pattern)
    """The claim (a dotted path for nested ones: ``realm_access.roles``); a string or a list."""
    map: dict[str, RoleName] = Field(default_factory=dict)
    """Claim value -> Proctor role. Values not listed are ignored; with no map at all, a
    value that is a role's name (``approver``) is that role."""


class TenantClaim(_Strict):
    """Which claim gives the tenant(s) a person may act in."""

    claim: str | None = Field(default=None, pattern=_CLAIM_PATH.pattern)
    """The claim (dotted path); ``None``: every person is in ``default``."""
    map: dict[str, str] = Field(default_factory=dict)
    """Claim value -> tenant. With no map, a claim value is the tenant's name."""
    default: str | None = "default"
    """The tenant of a person whose claim is absent or maps to none (``None``: refuse them)."""

    @field_validator("default")
    @classmethod
    def _default_is_a_tenant(cls, value: str | None) -> str | None:
        if value is not None and not _TENANT.match(value):
            raise ValueError(f"{value!r} is not a tenant name: use 1-64 letters, digits, - or _")
        return value

    @field_validator("map")
    @classmethod
    def _map_names_tenants(cls, value: dict[str, str]) -> dict[str, str]:
        for claimed, tenant in value.items():
            if not _TENANT.match(tenant):
                raise ValueError(
                    f"{claimed!r} maps to {tenant!r}, which is not a tenant name: "
                    "use 1-64 letters, digits, - or _"
                )
        return value


class SsoConfig(_Strict):
    """Single sign-on to the web UI with an OpenID Connect provider (authorization code
    flow with PKCE). API keys keep working for machines (``Authorization: Bearer``)."""

    issuer: str = Field(pattern=r"^https?://[^?#]+$")
    """The provider's issuer URL, exactly as the provider spells it (ID tokens must name
    it); its ``/.well-known/openid-configuration`` is read at the first sign-in."""
    client_id: str = Field(min_length=1)
    client_secret_env: str = Field(min_length=1)
    """The environment variable holding the client secret (never the secret itself)."""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    """Scopes asked for; ``openid`` is always among them."""
    name_claim: list[str] = Field(
        default_factory=lambda: ["email", "preferred_username", "name"], min_length=1
    )
    """Claims tried in order to show who the person is (the subject, if none is there)."""
    roles: RoleClaim = Field(default_factory=RoleClaim)
    tenants: TenantClaim = Field(default_factory=TenantClaim)
    userinfo: bool = False
    """Also read the provider's userinfo endpoint, for providers that keep the roles or
    tenant claim out of the ID token (its ``sub`` must be the ID token's)."""
    label: str = "single sign-on"
    """What the sign-in button says: ``Sign in with {label}`` (e.g. Okta, Google)."""
    redirect_url: str | None = Field(default=None, pattern=r"^https?://[^?#]+$")
    """The callback URL registered at the provider (default: this server's
    ``/login/sso/callback`` at the address the browser used)."""
    session_hours: PositiveFloat = 12.0
    """How long a session lasts before the person signs in again."""
    api_key_sign_in: bool = True
    """Whether the sign-in page still takes an API key (``false``: single sign-on only)."""
    timeout_s: PositiveFloat = 10.0
    """Each call to the provider (discovery, keys, token)."""

    @field_validator("scopes")
    @classmethod
    def _openid_first(cls, value: list[str]) -> list[str]:
        return ["openid", *(scope for scope in value if scope != "openid")]

    @model_validator(mode="after")
    def _sessions_end(self) -> SsoConfig:
        if self.session_hours > 24 * 30:
            raise ValueError("session_hours is at most 720 (30 days): sign-ins must expire")
        return self
