"""What `eval capture` writes where the run redacted: pseudonyms that keep different values
apart (and nothing raw), or the raw values when asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.contracts import Contract
from proctor.errors import ConfigError
from proctor.evals import (
    ReplayOptions,
    capture_case,
    case_yaml,
    load_case,
    load_suite,
    run_suite,
)
from proctor.gateway import AssistantMessage, Message, ScriptedModel, Turn
from proctor.policy import pseudonym_key
from proctor.runtime import Runner, Workflow
from proctor.store import SQLiteStore, load_evidence_keys, load_signing_key
from proctor.tools import Registry, tool

ADA, BOB = "ada@example.com", "bob@example.org"
NAMES = {ADA: "Ada", BOB: "Bob"}


@tool("crm.lookup", idempotent=True)
def lookup(email: str) -> dict[str, Any]:
    """Who has this address."""
    return {"name": NAMES[email]}


@tool("mail.send", effect="write")
def send(to: str, text: str) -> dict[str, Any]:
    """Send a message."""
    return {"sent": True}


class Script:
    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = turns

    def __call__(self, messages: Sequence[Message]) -> Turn:
        return self.turns[sum(isinstance(m, AssistantMessage) for m in messages)]


def workflow(turns: Sequence[Turn] = ()) -> Workflow:
    return Workflow(
        name="mailing",
        registry=Registry([lookup, send]),
        contract=Contract.model_validate({"workflow": "mailing"}),
        instructions="Write to the customers.",
        default_model="scripted:test",
        scripts={"test": lambda: ScriptedModel(scenario="test", script=Script(turns))},
    )


TURNS = [
    Turn(calls=[("crm.lookup", {"email": ADA}), ("crm.lookup", {"email": BOB})]),
    Turn(calls=[("mail.send", {"to": BOB, "text": f"Hello Bob, Ada ({ADA}) says hi"})]),
    Turn(text=f"Wrote to {BOB}."),
]


async def recorded(tmp_path: Path) -> tuple[SQLiteStore, str]:
    store = SQLiteStore(tmp_path / "runs.db")
    result = await Runner(store, workflow(TURNS)).start({"customers": [ADA, BOB.upper()]})
    assert result.outcome == "resolved"
    return store, result.run_id


async def capture(store: SQLiteStore, run_id: str, **options: Any) -> dict[str, Any]:
    return await capture_case(
        store,
        run_id,
        workflow=workflow(),
        keys=load_evidence_keys(),
        pseudonyms=pseudonym_key(load_signing_key()),
        **options,
    )


async def test_different_values_get_different_pseudonyms_and_nothing_raw_is_written(
    tmp_path: Path,
) -> None:
    store, run_id = await recorded(tmp_path)
    document = await capture(store, run_id)
    text = case_yaml(document, run_id=run_id)
    assert ADA not in text
    assert BOB not in text.lower()

    ada, bob = (f["arguments"]["email"] for f in document["fixtures"][:2])
    assert ada.startswith("[email:sha256:")
    assert bob.startswith("[email:sha256:")
    assert ada != bob
    # One value, one pseudonym: across input, calls, results, prose, and spellings.
    assert document["input"] == {"customers": [ada, bob]}  # BOB in capitals
    assert [f["result"] for f in document["fixtures"][:2]] == [{"name": "Ada"}, {"name": "Bob"}]
    sent = document["fixtures"][2]["arguments"]
    assert sent == {"to": bob, "text": f"Hello Bob, Ada ({ada}) says hi"}
    assert document["recorded"]["responses"][-1]["text"] == f"Wrote to {bob}."
    await store.close()


async def test_a_captured_case_replays_with_each_call_answered_by_its_own_fixture(
    tmp_path: Path,
) -> None:
    store, run_id = await recorded(tmp_path)
    document = await capture(store, run_id)
    await store.close()
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "case.yaml").write_text(case_yaml(document, run_id=run_id))
    options = ReplayOptions(recorded=True)
    result = await run_suite(load_suite(suite), loader=lambda _: workflow(), options=options)
    assert result.ok, [case.first_failure for case in result.cases]

    # The recording now writes to Ada: the fixture of the mail to Bob must not answer it.
    ada = document["fixtures"][0]["arguments"]["email"]
    document["recorded"]["responses"][1]["calls"][0]["arguments"]["to"] = ada
    (suite / "case.yaml").write_text(case_yaml(document, run_id=run_id))
    result = await run_suite(load_suite(suite), loader=lambda _: workflow(), options=options)
    assert not result.ok
    assert "mail.send" in str(result.cases[0].first_failure), result.cases[0].first_failure


async def test_raw_capture_writes_the_values_the_run_saw(tmp_path: Path) -> None:
    store, run_id = await recorded(tmp_path)
    document = await capture(store, run_id, raw=True)
    text = case_yaml(document, run_id=run_id, raw=True)
    assert "captured with --raw" in text
    assert document["input"] == {"customers": [ADA, BOB.upper()]}
    assert [f["arguments"] for f in document["fixtures"][:2]] == [{"email": ADA}, {"email": BOB}]
    assert load_case(tmp_path / "raw.yaml", text=text).fixtures

    # Without the store's secret there is nothing to open: raw is refused, the rest masks.
    with pytest.raises(ConfigError, match="--raw"):
        await capture_case(store, run_id, workflow=workflow(), raw=True)
    masked = await capture_case(store, run_id, workflow=workflow())
    assert masked["fixtures"][0]["arguments"] == {"email": "[email:redacted]"}
    assert yaml.safe_load(case_yaml(masked))["input"] == {
        "customers": ["[email:redacted]", "[email:redacted]"]
    }
    await store.close()
