"""``/api/v1/keys``: an admin manages its tenant's API keys. Digests are never shown."""

from __future__ import annotations

from fastapi import APIRouter, Request

from proctor.server._api_deps import Auth, KeyId, Svc, errors
from proctor.server._appstate import state_of
from proctor.server._schemas import CreateKey, KeyCreated, KeyList, KeyOut, Me

router = APIRouter(prefix="/api/v1", tags=["keys"])


@router.get("/me", responses=errors())
async def me(principal: Auth) -> Me:
    """The API key this request authenticates as: its id, holder, role and tenant."""
    return Me(
        key_id=principal.key_id,
        name=principal.name,
        holder=principal.holder,
        role=principal.role,
        tenant=principal.tenant,
    )


@router.get("/keys", responses=errors(403))
async def list_keys(principal: Auth, service: Svc) -> KeyList:
    """The tenant's keys, newest first, revoked ones included. Needs role admin."""
    return KeyList(keys=[KeyOut.of(record) for record in await service.keys(principal)])


@router.post("/keys", status_code=201, responses=errors(403))
async def create_key(body: CreateKey, principal: Auth, service: Svc) -> KeyCreated:
    """Create a key in the admin's own tenant. The answer's ``key`` is shown this once:
    the store keeps only its SHA-256 digest. Needs role admin."""
    record, token = await service.create_key(
        principal, role=body.role, name=body.name, holder=body.holder
    )
    return KeyCreated(**KeyOut.fields_of(record), key=token)


@router.delete("/keys/{key_id}", responses=errors(403, 404, 409))
async def revoke_key(key_id: KeyId, principal: Auth, service: Svc, request: Request) -> KeyOut:
    """Revoke a key of the tenant: it stops working at once (its UI sessions and open
    event streams too). The tenant's last admin key is kept (409): create another first."""
    revoked = await service.revoke_key(principal, key_id)
    state_of(request).auth.keys.forget()  # remembered lookups must not outlive the key
    return KeyOut.of(revoked)
