"""``proctor gateway usage``: the endpoint's spend from its call ledger, in this process."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from cli_harness import one_line_error, proctor_main

from proctor.store import GatewayCallRecord, open_store

NOW = time.time()


def call(age_days: float, key: str, model: str | None, cost: float | None) -> GatewayCallRecord:
    return GatewayCallRecord(
        ts=NOW - age_days * 86_400,
        key_name=key,
        route="default",
        deployment="small" if model else None,
        model=model,
        input_tokens=1_000 if model else 0,
        output_tokens=50 if model else 0,
        cost_usd=cost,
        latency_ms=20.0,
        status=200 if model else 502,
        error=None if model else "server_error",
    )


@pytest.fixture(autouse=True)
def ledger() -> None:
    async def seed() -> None:
        store = open_store(None)  # the default store under PROCTOR_HOME, as the command's
        try:
            await store.record_gateway_calls(
                [
                    call(0, "team-a", "gpt-4o-mini", 0.5),
                    call(0, "team-a", None, None),
                    call(1, "ci", "my-llama", None),
                    call(40, "team-a", "gpt-4o", 9.0),  # before the default 30 days
                ]
            )
        finally:
            await store.close()

    asyncio.run(seed())


def test_spend_by_key_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    ran = proctor_main("gateway", "usage", capsys=capsys)
    assert ran.code == 0, str(ran)
    lines = [line.split() for line in ran.out.splitlines() if line.strip()]
    assert lines[0][:3] == ["key", "calls", "errors"]
    assert ["team-a", "2", "1", "1,000", "50", "0", "0.5000"] in lines
    assert ["ci", "1", "0", "1,000", "50", "0", "0.0000", "(+1", "unpriced)"] in lines
    assert "3 calls, $0.5000 since 30d" in ran.out


def test_json_by_several_dimensions_and_one_key(capsys: pytest.CaptureFixture[str]) -> None:
    ran = proctor_main(
        "gateway",
        "usage",
        "--since",
        "60d",
        "--key",
        "team-a",
        "--by",
        "model,key",
        "--json",
        capsys=capsys,
    )
    assert ran.code == 0, str(ran)
    found = json.loads(ran.out)
    assert found["by"] == ["model", "key"]
    assert [(r["model"], r["key_name"], r["calls"], r["cost_usd"]) for r in found["rows"]] == [
        ("gpt-4o", "team-a", 1, 9.0),
        ("gpt-4o-mini", "team-a", 1, 0.5),
        ("", "team-a", 1, 0.0),
    ]


def test_by_day(capsys: pytest.CaptureFixture[str]) -> None:
    ran = proctor_main("gateway", "usage", "--by", "day", "--json", capsys=capsys)
    days = [row["day"] for row in json.loads(ran.out)["rows"]]
    assert days == sorted(days)
    assert len(days) == 2


def test_bad_options_are_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    bad_by = one_line_error(proctor_main("gateway", "usage", "--by", "tenant", capsys=capsys), 2)
    assert "cannot group gateway usage by 'tenant': use key, route, model, day" in bad_by
    bad_since = proctor_main("gateway", "usage", "--since", "yesterday", capsys=capsys)
    assert "neither an age" in one_line_error(bad_since, 2)
    nothing = proctor_main("gateway", "usage", "--key", "nobody", capsys=capsys)
    assert nothing.out.strip() == "no gateway calls since 30d by key 'nobody'"
