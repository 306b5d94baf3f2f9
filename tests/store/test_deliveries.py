"""The notification delivery log (every backend): attempts kept once, read per approval."""

from __future__ import annotations

from proctor.store import DeliveryRecord, Store


def attempt(
    n: int, approval: str = "ap_1", *, ok: bool = False, at: float = 10.0
) -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id=f"dl_{approval}_{n}",
        subject_id=approval,
        channel="ops",
        attempt=n,
        at=at + n,
        ok=ok,
        detail="HTTP 200" if ok else "HTTP 503",
        next_at=None if ok else at + n + 5,
    )


async def test_attempts_are_kept_once_and_read_per_approval(store: Store) -> None:
    assert await store.deliveries() == []
    await store.record_delivery(attempt(1))
    await store.record_delivery(attempt(2, ok=True))
    await store.record_delivery(attempt(1, "ap_2"))
    await store.record_delivery(attempt(1))  # the same id again: kept as first stored
    assert await store.deliveries(["ap_1"]) == [attempt(1), attempt(2, ok=True)]
    assert [d.subject_id for d in await store.deliveries()] == ["ap_1", "ap_2", "ap_1"]
    assert await store.deliveries([]) == []
    assert len(await store.deliveries(limit=1)) == 1
    [sent] = [d for d in await store.deliveries(["ap_1"]) if d.ok]
    assert sent.ok is True
    assert sent.next_at is None
