"""Runs store their contract version once; versions are found by hash prefix."""

from __future__ import annotations

import dataclasses

import pytest

from proctor.audit import find_contract_version
from proctor.contracts import diff_contracts
from proctor.errors import NotFoundError, UsageError
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import Store
from support.invoice_runs import invoice_workflow, store_version


async def test_each_version_is_stored_once_when_a_run_starts(store: Store) -> None:
    shipped = invoice.workflow()
    tighter = invoice_workflow(limits={**shipped.contract.limits.model_dump(), "max_tool_calls": 8})
    clean = invoice.sample_input("clean")
    for flow in (shipped, shipped, tighter):
        await Runner(store, flow).start(clean)

    stored = {v.content_hash: v for v in await store.contracts()}

    assert set(stored) == {shipped.contract.content_hash, tighter.contract.content_hash}
    assert stored[shipped.contract.content_hash].runs == 2
    assert stored[tighter.contract.content_hash].runs == 1
    old, new = (stored[f.contract.content_hash].body for f in (shipped, tighter))
    assert [str(c) for c in diff_contracts(old, new).changes] == ["limits.max_tool_calls: 6 -> 8"]


async def test_a_version_is_found_by_a_unique_prefix(store: Store) -> None:
    flow = invoice.workflow()
    await Runner(store, flow).start(invoice.sample_input("clean"))
    full = flow.contract.content_hash

    assert (await find_contract_version(store, full[:6].upper())).content_hash == full

    with pytest.raises(NotFoundError, match="no stored contract version starts with"):
        await find_contract_version(store, "0000" if not full.startswith("0000") else "ffff")
    with pytest.raises(UsageError, match="at least 4 hex characters"):
        await find_contract_version(store, full[:3])
    with pytest.raises(UsageError, match="not a contract hash prefix"):
        await find_contract_version(store, "v1.yaml")


async def test_an_ambiguous_prefix_names_every_match(store: Store) -> None:
    flow = invoice.workflow()
    record = flow.contract
    await Runner(store, flow).start(invoice.sample_input("clean"))
    [stored] = await store.contracts()
    # A second version whose hash shares the first one's prefix (forged: a real one is rare).
    twin = dataclasses.replace(stored, content_hash=stored.content_hash[:6] + "0" * 58)
    await store_version(store, twin)

    with pytest.raises(UsageError, match=rf"'{record.content_hash[:5]}' is ambiguous") as raised:
        await find_contract_version(store, record.content_hash[:5])
    assert stored.content_hash[:12] in str(raised.value)
    assert twin.content_hash[:12] in str(raised.value)
