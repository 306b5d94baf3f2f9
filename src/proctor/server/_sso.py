"""Single sign-on: the web UI as an OpenID Connect relying party, with Authlib.

``/login/sso`` sends the browser to the provider's authorization endpoint with a fresh
``state``, ``nonce`` and PKCE verifier, which a short-lived signed cookie (``Flow``) binds
to that browser. The provider sends the browser back with a code: the ``state`` must be
the cookie's, the code is exchanged at the token endpoint (with the verifier and the
client secret), and the ID token must be signed by one of the provider's keys (the JWKS
its discovery document names) and name this issuer, this client, the flow's nonce and a
time that has not passed. Its claims then say who the person is (``Person``): the
issuer and subject, a name to show, the Proctor roles and tenants their claims map to.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx2
import jwt

from proctor.errors import AccessDenied, ConfigError
from proctor.gateway import SsoConfig
from proctor.server._keys import ROLES

# Authlib and joserfc load at the first sign-in (a few hundred ms on a busy machine): a
# server without sso: never pays for them.
if TYPE_CHECKING:
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
    )
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

FLOW_COOKIE = "proctor_sso"
FLOW_SECONDS = 600
"""How long a sign-in may take at the provider before its flow cookie lapses."""
_FLOW_AUDIENCE = "proctor-sso-flow"
# Asymmetric algorithms only: a token signed with the client secret (HS256) or with none
# proves nothing about the provider.
_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
    | {"EdDSA", "Ed25519"}
)
_LEEWAY_S = 60
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SignInRefused(AccessDenied):
    """A single sign-on that did not give a session; the message says why and what to do."""


@dataclass(frozen=True, kw_only=True)
class Flow:
    """One sign-in in progress, as its cookie keeps it (signed by the server)."""

    state: str
    nonce: str
    verifier: str
    next: str
    tenant: str = ""
    """The tenant asked for, when the person may act in several."""


@dataclass(frozen=True, kw_only=True)
class Person:
    """Who the provider says signed in, and what their claims map to."""

    issuer: str
    subject: str
    name: str
    roles: tuple[str, ...]
    """Proctor roles, in ``ROLES`` order; empty: no claim value maps to one."""
    tenants: tuple[str, ...]
    groups: tuple[str, ...]
    """The role claim's values as given (to say which mapped to nothing)."""

    @property
    def role(self) -> str:
        """The roles as a principal holds them (``operator+approver``)."""
        return "+".join(self.roles)


class OidcClient:
    """The relying party of one provider: discovery and its keys (fetched once, the keys
    again when a token names one not seen yet), the authorization URL, the code exchange,
    the ID token's checks and the claims' mapping."""

    def __init__(
        self,
        config: SsoConfig,
        flow_secret: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secret = os.environ.get(config.client_secret_env, "")
        if not secret:
            raise ConfigError(
                f"sso.client_secret_env names {config.client_secret_env}, which is not set. "
                f"Fix: export {config.client_secret_env}=<the client secret your identity "
                "provider issued for Proctor>"
            )
        self.config = config
        self._client_secret = secret
        self._flow_secret = flow_secret
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    # The flow cookie ---------------------------------------------------------------------

    def new_flow(self, next: str, tenant: str = "") -> Flow:
        return Flow(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),  # 64 characters: RFC 7636's 43-128
            next=next,
            tenant=tenant,
        )

    def flow_cookie(self, flow: Flow) -> str:
        now = int(self._clock())
        claims = {
            "aud": _FLOW_AUDIENCE,
            "iat": now,
            "exp": now + FLOW_SECONDS,
            "state": flow.state,
            "nonce": flow.nonce,
            "verifier": flow.verifier,
            "next": flow.next,
            "tenant": flow.tenant,
        }
        return jwt.encode(claims, self._flow_secret, algorithm="HS256")

    def read_flow(self, cookie: str | None, state: str) -> Flow:
        """The flow ``state`` belongs to: refused unless this browser's cookie holds it."""
        if not cookie:
            raise SignInRefused(
                "this sign-in did not start in this browser (or its cookie was blocked): "
                "start again from the sign-in page"
            )
        try:
            claims = jwt.decode(
                cookie,
                self._flow_secret,
                algorithms=["HS256"],
                audience=_FLOW_AUDIENCE,
                options={"verify_exp": False},  # checked below, with the injected clock
            )
        except jwt.PyJWTError:
            raise SignInRefused("this sign-in's cookie is not valid here: start again") from None
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock():
            raise SignInRefused(
                f"this sign-in took longer than {FLOW_SECONDS // 60} minutes at the identity "
                "provider and expired: start again"
            )
        expected = str(claims.get("state", ""))
        if not state or not hmac.compare_digest(expected.encode(), state.encode()):
            raise SignInRefused(
                "the provider's answer does not belong to the sign-in this browser started "
                "(its state differs): start again from the sign-in page"
            )
        return Flow(
            state=expected,
            nonce=str(claims.get("nonce", "")),
            verifier=str(claims.get("verifier", "")),
            next=str(claims.get("next", "")),
            tenant=str(claims.get("tenant", "")),
        )

    # The provider ------------------------------------------------------------------------

    async def authorization_url(self, flow: Flow, redirect_uri: str) -> str:
        metadata = await self.metadata()
        async with self._oauth(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=flow.state,
                nonce=flow.nonce,
                code_verifier=flow.verifier,
            )
        return cast(str, url)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (read once), checked to name this issuer."""
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is None:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                found = await self._get_json(url, "its discovery document")
                if found.get("issuer") != self.config.issuer:
                    raise SignInRefused(
                        f"the discovery document at {url} names issuer {found.get('issuer')!r}, "
                        f"not {self.config.issuer!r}. Fix: set sso.issuer to the provider's "
                        "issuer exactly as it spells it",
                        status=502,
                    )
                for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(found.get(field), str):
                        raise SignInRefused(
                            f"the discovery document at {url} has no {field}: "
                            "is sso.issuer an OpenID Connect provider?",
                            status=502,
                        )
                self._metadata = found
        assert self._metadata is not None
        return self._metadata

    async def finish(self, code: str, flow: Flow, redirect_uri: str) -> Person:
        """Exchange the code, check the ID token, and map its claims."""
        token = await self.exchange(code, flow, redirect_uri)
        claims = await self.verify_id_token(
            token["id_token"], nonce=flow.nonce, access_token=token.get("access_token")
        )
        if self.config.userinfo:
            claims = {**await self.userinfo(token, claims["sub"]), **claims}
        return self.person(claims)

    async def userinfo(self, token: Mapping[str, Any], subject: str) -> dict[str, Any]:
        """The userinfo endpoint's claims, read with the access token; refused unless they
        are of ``subject`` (the ID token's), as OpenID Connect Core 5.3.2 requires."""
        metadata = await self.metadata()
        url = metadata.get("userinfo_endpoint")
        if not isinstance(url, str) or not isinstance(token.get("access_token"), str):
            raise SignInRefused(
                "sso.userinfo is on, but the provider has no userinfo endpoint (or gave no "
                "access token). Fix: turn sso.userinfo off and put the claims in the ID token",
                status=502,
            )
        try:
            async with httpx2.AsyncClient(timeout=self.config.timeout_s) as client:
                answer = await client.get(
                    url, headers={"Authorization": f"Bearer {token['access_token']}"}
                )
                answer.raise_for_status()
                found = answer.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise self._unreachable("your claims (userinfo)", exc, url) from None
        if not isinstance(found, dict) or found.get("sub") != subject:
            raise SignInRefused(
                "the provider's userinfo answer is not about the person its ID token names "
                "(their sub differs): refused"
            )
        return found

    async def exchange(self, code: str, flow: Flow, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer to the code (with the flow's PKCE verifier); it
        holds an ``id_token``, not yet checked."""
        from authlib.integrations.httpx_client import OAuthError

        metadata = await self.metadata()
        try:
            async with self._oauth(redirect_uri) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    code=code,
                    code_verifier=flow.verifier,
                    redirect_uri=redirect_uri,
                )
        except (httpx2.HTTPError, ValueError) as exc:  # ValueError: not a JSON object
            raise self._unreachable("its token endpoint", exc) from None
        except OAuthError as exc:  # the provider refused the code
            raise SignInRefused(
                f"the identity provider refused to exchange the sign-in's code: {exc}. "
                "Start again; if it persists, check sso.client_id and the client secret"
            ) from None
        if not isinstance(token.get("id_token"), str):
            raise SignInRefused(
                "the identity provider answered without an ID token: is 'openid' among the "
                "client's allowed scopes?"
            )
        return dict(token)

    async def verify_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The ID token's claims, once its signature (the provider's keys), issuer,
        audience, times and nonce check; else ``SignInRefused``."""
        from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
        from joserfc import jwt as jose_jwt
        from joserfc.errors import InvalidKeyIdError, JoseError
        from joserfc.jws import JWSRegistry

        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in _ALGORITHMS]
        registry = JWSRegistry(algorithms=algorithms or ["RS256"], strict_check_header=False)
        try:
            try:
                decoded = jose_jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys: read them again
                decoded = jose_jwt.decode(
                    id_token, await self._key_set(fresh=True), registry=registry
                )
        except JoseError as exc:
            raise SignInRefused(
                f"the ID token's signature does not verify with {self.config.issuer}'s keys "
                f"({exc.error}): it was not issued by the configured provider"
            ) from None
        except ValueError as exc:  # not a JWS at all
            raise SignInRefused(f"the ID token is not a signed token: {exc}") from None
        options = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.client_id},
        }
        params = {"nonce": nonce, "client_id": self.config.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(self._clock()), leeway=_LEEWAY_S)
        except JoseError as exc:
            raise SignInRefused(_claim_problem(exc, self.config, decoded.claims)) from None
        return dict(decoded.claims)

    def person(self, claims: Mapping[str, Any]) -> Person:
        """Who ``claims`` say signed in: name, roles and tenants by the configured mapping."""
        config = self.config
        subject = str(claims.get("sub", ""))
        name = next(
            (str(v) for c in config.name_claim if isinstance(v := claim(claims, c), str) and v),
            subject,
        )
        groups = _values(claim(claims, config.roles.claim))
        granted = {
            config.roles.map.get(value, "") if config.roles.map else value for value in groups
        }
        roles = tuple(role for role in ROLES if role in granted)
        tenants: list[str] = []
        if config.tenants.claim is not None:
            for value in _values(claim(claims, config.tenants.claim)):
                tenant = config.tenants.map.get(value, "") if config.tenants.map else value
                if tenant and tenant not in tenants:
                    if not _TENANT.match(tenant):
                        raise SignInRefused(
                            f"your {config.tenants.claim!r} claim names {tenant[:64]!r}, which "
                            "is not a tenant name (1-64 letters, digits, - or _). Fix: map it "
                            "to one under sso.tenants.map in proctor.yaml",
                            status=403,
                        )
                    tenants.append(tenant)
        if not tenants and config.tenants.default is not None:
            tenants.append(config.tenants.default)
        return Person(
            issuer=config.issuer,  # the ID token named it (verify_id_token)
            subject=subject,
            name=name[:100],
            roles=roles,
            tenants=tuple(tenants),
            groups=groups,
        )

    # HTTP --------------------------------------------------------------------------------

    def _oauth(self, redirect_uri: str) -> AsyncOAuth2Client:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self._client_secret,
            scope=" ".join(self.config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.config.timeout_s,
        )

    async def _key_set(self, *, fresh: bool = False) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        if self._keys is None or fresh:
            metadata = await self.metadata()
            found = await self._get_json(metadata["jwks_uri"], "its signing keys (JWKS)")
            try:
                self._keys = KeySet.import_key_set(cast(Any, found))
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise SignInRefused(
                    f"the identity provider's keys at {metadata['jwks_uri']} cannot be read: {exc}",
                    status=502,
                ) from None
        return self._keys

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=self.config.timeout_s) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                found = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise self._unreachable(what, exc, url) from None
        if not isinstance(found, dict):
            raise SignInRefused(f"{url} did not answer a JSON object", status=502)
        return found

    def _unreachable(self, what: str, exc: Exception, url: str = "") -> SignInRefused:
        where = f" at {url}" if url else ""
        return SignInRefused(
            f"cannot read {what} from the identity provider{where}: "
            f"{type(exc).__name__}: {exc}. Fix: check sso.issuer in proctor.yaml and that "
            "this server reaches the provider",
            status=502,
        )


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``realm_access.roles``); ``None`` if absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return claims.get(path)  # a claim whose own name has dots (a URL, say)
        value = value[part]
    return value


def _values(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # one value: a group or tenant may have spaces in its name
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(str(item) for item in value if isinstance(item, str | int) and str(item))
    return ()


def _claim_problem(exc: JoseError, config: SsoConfig, claims: Mapping[str, Any]) -> str:
    name = str(getattr(exc, "claim", "") or "")
    if name == "iss":
        return (
            f"the ID token was issued by {claims.get('iss')!r}, not by the configured "
            f"provider {config.issuer!r}: refused"
        )
    if name == "aud" or name == "azp":
        return (
            f"the ID token was issued to {claims.get('aud')!r}, not to this server's client "
            f"{config.client_id!r}: refused"
        )
    if exc.error == "expired_token" or name == "exp":
        return "the ID token has expired: sign in again"
    if name == "nonce":
        return "the ID token does not answer this sign-in (its nonce differs): start again"
    return f"the ID token is not acceptable ({exc.error}: {exc.description}): sign in again"
