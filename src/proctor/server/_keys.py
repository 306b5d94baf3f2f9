"""API keys: what each role may do, minting keys, and finding the key a request carries.

A key is ``prk_<id>_<secret>``: 32 random bytes the store never sees, only their SHA-256
digest. The id part is public (it names the key in lists and when revoking it).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

from proctor.errors import AccessDenied, NotFoundError, RunStateError, UsageError
from proctor.runtime import same_person
from proctor.store import ApiKeyRecord, ApiKeys, SessionRecord, Sessions

Role = Literal["viewer", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

Permission = Literal["read", "start", "decide", "keys"]

PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "start"}),
    "approver": frozenset({"read", "decide"}),
    "admin": frozenset({"read", "start", "decide", "keys"}),
}
"""What each role may do. An approver may not start runs: who proposes a payment and who
approves it are different people (separation of duties)."""

_PREFIX = "prk_"


class KeyStore(ApiKeys, Sessions, Protocol):
    """What signing in reads and writes: keys, and the UI sessions opened with them."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the key's holder (its identity), role and tenant; or a
    person signed in with single sign-on (then ``key_id`` is empty)."""

    key_id: str
    name: str
    role: str
    """One of ``ROLES``; a person whose claims map to several holds them all
    (``operator+approver``)."""
    tenant: str
    holder: str
    """The person or service the key belongs to, or the signed-in person
    (``person_identity``): what runs and decisions record."""
    names_key: bytes | None = field(default=None, repr=False, compare=False)
    """The store's key of name pseudonyms, to know a run recorded as ``[email:sha256:…]``
    as this principal's (``started``); ``None``: compared by name only."""

    @classmethod
    def of(cls, record: ApiKeyRecord) -> Principal:
        return cls(
            key_id=record.key_id,
            name=record.name,
            role=record.role,
            tenant=record.tenant,
            holder=record.identity,
        )

    @classmethod
    def of_session(cls, session: SessionRecord) -> Principal:
        """The person a single sign-on session is."""
        return cls(
            key_id="",
            name=session.name,
            role=session.role,
            tenant=session.tenant,
            holder=person_identity(session.name, session.issuer, session.subject),
        )

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.role.split("+"))

    def started(self, started_by: str) -> bool:
        """Whether this principal is who started a run (``started_by``): then it may not
        decide the run's approvals (separation of duties)."""
        return same_person(self.holder, started_by, names_key=self.names_key)

    def can(self, permission: Permission) -> bool:
        return any(permission in PERMISSIONS.get(role, frozenset()) for role in self.roles)

    def require(self, permission: Permission) -> None:
        """Refuse (403) what this principal's role does not allow."""
        if not self.can(permission):
            allowed = " or ".join(r for r, granted in PERMISSIONS.items() if permission in granted)
            if self.key_id:
                who, fix = f"API key {self.key_id}", f"Use a key with role {allowed}"
            else:
                who = f"{self.name} (signed in with single sign-on)"
                fix = f"Ask your identity provider's admin for a group that maps to {allowed}"
            raise AccessDenied(
                f"{who} has role {self.role!r}, which may not {_VERBS[permission]}. {fix}",
                status=403,
            )


_VERBS: dict[Permission, str] = {
    "read": "read runs",
    "start": "start runs",
    "decide": "decide approvals",
    "keys": "manage API keys",
}


def person_identity(name: str, issuer: str, subject: str) -> str:
    """How runs and decisions record a person signed in with single sign-on: shown by
    ``name``, and compared (separation of duties) by issuer and subject, which the
    provider never reassigns: ``alice@example.com <https://idp.example.com#24828976>``."""
    return f"{name} <{issuer}#{subject}>"


def key_digest(token: str) -> str:
    """The SHA-256 digest the store keeps of a key."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def check_holder(holder: str) -> str:
    """A key holder's name: 1-100 printable characters, spaces trimmed."""
    text = holder.strip()
    if not text or len(text) > 100 or not text.isprintable():
        raise UsageError(
            f"invalid key holder {holder[:100]!r}: name the person or service in 1-100 "
            "printable characters (e.g. alice or invoice-bot)"
        )
    return text


def check_tenant(tenant: str) -> str:
    if not tenant or len(tenant) > 64 or not tenant.replace("-", "").replace("_", "").isalnum():
        raise UsageError(
            f"invalid tenant {tenant!r}: use 1-64 letters, digits, '-' or '_' (e.g. acme)"
        )
    return tenant


async def create_api_key(
    store: ApiKeys,
    *,
    role: str,
    tenant: str = "default",
    name: str | None = None,
    holder: str | None = None,
    created_by: str = "",
) -> tuple[ApiKeyRecord, str]:
    """Mint a key: its stored record and the key itself, which is shown once and never kept.

    ``holder`` is who the key belongs to (default: its name, else its id): the identity
    separation of duties compares, so two keys of one holder are one person.
    """
    role = check_role(role)
    tenant = check_tenant(tenant)
    key_id = secrets.token_hex(4)
    token = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    label = (name or f"key_{key_id}").strip()
    record = ApiKeyRecord(
        key_id=f"key_{key_id}",
        secret_hash=key_digest(token),
        role=role,
        tenant=tenant,
        name=label,
        created_at=time.time(),
        holder=check_holder(holder or label),
        created_by=created_by,
    )
    await store.save_api_key(record)
    return record, token


async def revoke_api_key(store: ApiKeys, key_id: str, *, tenant: str | None = None) -> ApiKeyRecord:
    """Revoke a key (of ``tenant``, when given); refuse the tenant's last working admin key,
    without which nobody could manage its keys. A key revoked already keeps its first time."""
    keys = await store.api_keys(tenant)
    target = next((key for key in keys if key.key_id == key_id), None)
    if target is None:
        where = "" if tenant is None else f" in tenant {tenant!r}"
        raise NotFoundError(f"no API key {key_id!r}{where}; list them with `proctor keys list`")
    admins = [
        key
        for key in keys
        if key.tenant == target.tenant and key.role == "admin" and key.revoked_at is None
    ]
    if admins == [target]:
        raise RunStateError(
            f"{key_id} is the last admin key of tenant {target.tenant!r}: without it nobody "
            "could manage the tenant's keys. Fix: create another admin key first (proctor keys "
            f"create --role admin --tenant {target.tenant}), then revoke this one"
        )
    revoked = await store.revoke_api_key(key_id, time.time())
    if revoked is None:  # pragma: no cover - listed a moment ago
        raise NotFoundError(f"no API key {key_id!r}")
    return revoked


class KeyLookup:
    """Finds the key behind a token, remembering answers for ``ttl`` seconds: a request
    costs a dict lookup, and a key revoked by another process stops working within ``ttl``."""

    def __init__(self, store: KeyStore, *, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._seen: dict[str, tuple[float, ApiKeyRecord | None]] = {}

    async def principal(self, token: str) -> Principal:
        """The principal ``token`` authenticates; 401 if it is unknown or revoked."""
        if not token.startswith(_PREFIX):
            raise AccessDenied(
                "that is not a Proctor API key (they start with prk_). "
                "Create one with: proctor keys create --role viewer --tenant TENANT"
            )
        record = await self.by_digest(key_digest(token))
        if record is None:
            raise AccessDenied("unknown API key. Check it was copied whole, or create a new one")
        if record.revoked_at is not None:
            raise AccessDenied(f"API key {record.key_id} was revoked. Ask an admin for a new one")
        return Principal.of(record)

    async def by_digest(self, digest: str) -> ApiKeyRecord | None:
        now = time.monotonic()
        seen = self._seen.get(digest)
        if seen is not None and now - seen[0] < self.ttl:
            return seen[1]
        record = await self.store.api_key(digest)
        if len(self._seen) > 10_000:  # unknown tokens must not grow this without bound
            self._seen.clear()
        self._seen[digest] = (now, record)
        return record

    def forget(self) -> None:
        """Drop remembered answers (after a key is revoked in this process)."""
        self._seen.clear()
