"""The notification delivery log (every backend): an attempt is claimed once, then settled;
attempts are read per subject."""

from __future__ import annotations

import dataclasses

from proctor.store import DeliveryRecord, Store


def attempt(
    n: int, approval: str = "ap_1", *, ok: bool = False, at: float = 10.0, worker: str = ""
) -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id=f"dl_{approval}_{n}{worker}",
        subject_id=approval,
        channel="ops",
        attempt=n,
        at=at + n,
        ok=ok,
        detail="HTTP 200" if ok else "HTTP 503",
        next_at=None if ok else at + n + 5,
    )


async def test_attempts_are_claimed_once_and_read_per_subject(store: Store) -> None:
    assert await store.deliveries() == []
    assert await store.claim_delivery(attempt(1))
    assert await store.claim_delivery(attempt(2, ok=True))
    assert await store.claim_delivery(attempt(1, "ap_2"))
    assert not await store.claim_delivery(attempt(1))  # the same id again: kept as first stored
    assert await store.deliveries(["ap_1"]) == [attempt(1), attempt(2, ok=True)]
    assert [d.subject_id for d in await store.deliveries()] == ["ap_1", "ap_2", "ap_1"]
    assert await store.deliveries([]) == []
    assert len(await store.deliveries(limit=1)) == 1
    [sent] = [d for d in await store.deliveries(["ap_1"]) if d.ok]
    assert sent.ok is True
    assert sent.next_at is None


async def test_of_two_senders_only_one_claims_an_attempt(store: Store) -> None:
    # Two processes announcing the same approval on the same channel, both about to make
    # attempt 3: the second claim is refused, so one message goes out.
    assert await store.claim_delivery(attempt(3, worker="_a"))
    assert not await store.claim_delivery(attempt(3, worker="_b"))
    assert await store.claim_delivery(attempt(3, "ap_9", worker="_b"))  # another subject
    assert await store.claim_delivery(dataclasses.replace(attempt(3, worker="_c"), channel="hr"))
    [mine] = [d for d in await store.deliveries(["ap_1"]) if d.channel == "ops"]
    assert mine.delivery_id == "dl_ap_1_3_a"


async def test_a_claim_is_settled_by_how_it_went(store: Store) -> None:
    claim = dataclasses.replace(attempt(1), detail="sending", next_at=70.0)
    assert await store.claim_delivery(claim)
    settled = dataclasses.replace(claim, at=12.5, ok=True, detail="HTTP 204", next_at=None)
    await store.settle_delivery(settled)
    assert await store.deliveries(["ap_1"]) == [settled]
    # Settling what was never claimed keeps nothing.
    await store.settle_delivery(attempt(1, "ap_7"))
    assert await store.deliveries(["ap_7"]) == []
