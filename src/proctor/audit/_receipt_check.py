"""Checking a receipt on its own, with the evidence public key only: the chain it carries
recomputes, and its signatures verify (what docs/audit.md tells anyone to do by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proctor.errors import UsageError
from proctor.store import (
    GENESIS_HASH,
    SIGNED_EVENTS,
    EvidenceKeys,
    chain_hash,
    standard_chain_hash,
)
from proctor.store._evidence import head_message

PROCEDURE = (
    "Each event's hash is SHA-256 over its prev_hash (64 hex characters; the first "
    "event's is 64 zeros) followed by its `hashed` fields as RFC 8785 canonical JSON; it "
    "must equal the event's `hash` and the next event's `prev_hash`.",
    "An event's `signature` is `<key id>.<base64url Ed25519 signature>` of the UTF-8 text "
    "'proctor run head v1\\n<run_id>\\n<seq>\\n<hash>'; the key id is the first 16 hex "
    "digits of SHA-256 over the raw 32-byte public key. A signed event vouches for "
    "every event before it.",
    "An event whose `hashed` is null was withheld (its metadata names a secret): take its "
    "`hash` as given; the signatures after it still cover it.",
    "Payloads are not in the receipt: `hashed.content_digest` is an HMAC-SHA256 under the "
    "store's secret (`<key id>.<hex>`) of the stored (redacted) payload as RFC 8785 JSON, "
    "so it confirms nothing to someone guessing a payload; `proctor audit verify` checks "
    "it where the store is.",
)


@dataclass(frozen=True, kw_only=True)
class ReceiptCheck:
    """What checking a receipt found."""

    run_id: str
    events: int
    head_hash: str
    signed_through: int
    problem: str | None = None
    bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_receipt(document: Any, keys: EvidenceKeys, *, where: str = "the receipt") -> ReceiptCheck:
    """Recompute the chain a receipt (as JSON) carries and check its signatures."""
    try:
        run_id = str(document["run"]["run_id"])
        events = list(document["events"])
        keyed = bool(document["verification"].get("keyed"))
        claimed = str(document["verification"]["head_hash"])
    except (KeyError, TypeError) as exc:
        raise UsageError(
            f"{where} is not a Proctor receipt (missing {exc}). Fix: export one with "
            "`proctor audit export RUN --format json`"
        ) from None
    hash_of = standard_chain_hash if keyed else chain_hash
    prev, signed = GENESIS_HASH, -1

    def result(problem: str | None = None, seq: int | None = None) -> ReceiptCheck:
        return ReceiptCheck(
            run_id=run_id,
            events=len(events),
            head_hash=prev,
            signed_through=signed,
            problem=problem,
            bad_seq=seq,
        )

    withheld: list[int] = []
    for position, event in enumerate(events):
        if not isinstance(event, dict) or event.get("seq") != position:
            return result(f"event {position} is out of order or missing", position)
        if event.get("prev_hash") != prev:
            return result(f"event {position} does not link to the event before it", position)
        hashed = event.get("hashed")
        if hashed is None:  # withheld (it names a secret): its hash is taken as given
            withheld.append(position)
            prev = str(event.get("hash"))
            continue
        if not isinstance(hashed, dict) or hashed.get("seq") != position:
            return result(f"event {position} is out of order or missing", position)
        if hashed.get("run_id") != run_id:
            return result(f"event {position} belongs to another run", position)
        computed = hash_of(prev, hashed)
        if computed != event.get("hash"):
            return result(f"event {position} was edited: its hash does not match", position)
        prev = computed
        signature = event.get("signature") or ""
        if signature:
            problem = keys.signature_problem(head_message(run_id, position, computed), signature)
            if problem is not None:
                return result(f"event {position}: {problem}", position)
            signed = position
    if prev != claimed:
        return result("the chain's head is not the head the receipt claims", len(events) - 1)
    unsigned = [e["seq"] for e in events if e.get("type") in SIGNED_EVENTS and e["seq"] > signed]
    if keyed and unsigned:
        return result(f"event {unsigned[0]} decides, but no signature covers it", unsigned[0])
    return result()
