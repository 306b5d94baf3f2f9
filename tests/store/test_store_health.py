"""``Health``: every backend says which schema version its database holds, and
``check_store`` turns that into a readiness answer."""

from __future__ import annotations

from proctor.store import Store, StoreReadiness, check_store
from proctor.store._migrations import SCHEMA_VERSION


async def test_a_store_answers_with_its_schema_version(store: Store) -> None:
    assert await store.schema_version_now() == SCHEMA_VERSION
    found = await check_store(store)
    assert found == StoreReadiness(ready=True, schema_version=SCHEMA_VERSION)
    assert found.as_json() == {
        "status": "ready",
        "schema_version": SCHEMA_VERSION,
        "supported_version": SCHEMA_VERSION,
    }


class _Slow:
    async def schema_version_now(self) -> int:
        import asyncio

        await asyncio.sleep(10)
        return SCHEMA_VERSION


class _Ahead:
    async def schema_version_now(self) -> int:
        return SCHEMA_VERSION + 1


async def test_a_silent_or_newer_store_is_not_ready() -> None:
    silent = await check_store(_Slow(), timeout_s=0.05)
    assert (silent.ready, silent.summary) == (False, "the store does not answer")
    ahead = await check_store(_Ahead())
    assert not ahead.ready
    assert ahead.schema_version == SCHEMA_VERSION + 1
    assert "roll out the newer Proctor" in (ahead.reason or "")
