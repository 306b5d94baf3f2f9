"""Finding stored contract versions by hash prefix, as people type them."""

from __future__ import annotations

import re

from proctor.errors import NotFoundError, UsageError
from proctor.store import ContractRecord, ContractVersions

_HEX = re.compile(r"[0-9a-f]+")
MIN_PREFIX = 4


async def find_contract_version(store: ContractVersions, prefix: str) -> ContractRecord:
    """The one stored contract version whose content hash starts with ``prefix``."""
    wanted = prefix.strip().lower()
    if not _HEX.fullmatch(wanted) or len(wanted) < MIN_PREFIX:
        raise UsageError(
            f"{prefix!r} is not a contract hash prefix: give at least {MIN_PREFIX} hex "
            "characters (see `proctor contract versions`), or a contract file's path"
        )
    found = await store.contracts(hash_prefix=wanted)
    if not found:
        raise NotFoundError(
            f"no stored contract version starts with {wanted!r}; list them with "
            "`proctor contract versions` (a version is stored when a run first uses it)"
        )
    if len(found) > 1:
        matches = ", ".join(f"{v.content_hash[:12]} ({v.workflow} v{v.version})" for v in found)
        raise UsageError(
            f"{wanted!r} is ambiguous: it starts {len(found)} stored versions ({matches}); "
            "give more characters"
        )
    return found[0]
