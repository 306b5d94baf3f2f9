"""The invoice example end to end: every ERP call is scoped, and no token is ever recorded.

Every demo scenario (and the approval of the large payment, and a run whose credential
refuses the vendor) runs against a SQLite file with an issuer that remembers each token.
Then the store's raw bytes (database and WAL), ``proctor trace --json``, ``proctor runs
--json``, ``proctor approvals --json``, both audit receipts, the model's messages and the
logs are searched for the tokens and for each of their three parts: none may appear.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proctor.cli import app
from proctor.examples import invoice
from proctor.examples.invoice import _models
from proctor.gateway import Message, ScriptedModel, Turn
from proctor.runtime import Runner, decide_approval
from proctor.store import PolicyDecided, SQLiteStore, row_to_event
from support.credentials import RecordingIssuer

Script = Callable[[Sequence[Message]], Turn]


def needles(tokens: list[str]) -> list[bytes]:
    """Each token, and each of its parts (header, claims, signature), as bytes."""
    found = {token.encode() for token in tokens}
    found |= {part.encode() for token in tokens for part in token.split(".")}
    return sorted(found)


def leaks(haystack: bytes, tokens: list[str]) -> list[bytes]:
    return [needle for needle in needles(tokens) if needle in haystack]


class Recorded:
    """Every message each scripted model was shown."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def model(self, scenario: str, script: Script) -> ScriptedModel:
        def recording(messages: Sequence[Message]) -> Turn:
            self.messages.extend(repr(message) for message in messages)
            return script(messages)

        return ScriptedModel(scenario=scenario, script=recording, priced_as="gpt-4o-mini")


SCRIPTS: dict[str, Script] = {
    "scripted:procedure": _models.procedure,
    "scripted:gullible": _models.gullible,
    "scripted:rechecker": _models.rechecker,
    "scripted:hasty": _models.hasty,
    "scripted:pushy": _models.pushy,
}


async def run_everything(db: Path, issuer: RecordingIssuer, seen: Recorded) -> dict[str, str]:
    """Run the scenarios; return outcomes by name and check the raw bytes while open."""
    store = SQLiteStore(db)
    outcomes: dict[str, str] = {}
    flow = invoice.workflow()
    try:
        for scenario in invoice.DEMO_SCENARIOS:
            model = seen.model(scenario.model.split(":")[1], SCRIPTS[scenario.model])
            runner = Runner(store, flow, model=model, issuer=issuer)
            result = await runner.start(invoice.sample_input(scenario.input_name))
            assert result.status in (scenario.expected, "finished"), scenario.title
            if result.state.pending_approval is not None:
                await decide_approval(
                    store, result.state.pending_approval, approved=True, by="bob", reason="ok"
                )
                result = await runner.resume(result.run_id, reason="approved")
            outcomes[scenario.title] = str(result.outcome)
        # The clean invoice, but the run says it came from another vendor's account.
        model = seen.model("procedure", _models.procedure)
        foreign = {**invoice.sample_input("clean"), "vendor_id": "V-1002"}
        result = await Runner(store, flow, model=model, issuer=issuer).start(foreign)
        outcomes["foreign vendor"] = str(result.outcome)
        rows = await store.events(result.run_id)
        decided = [row_to_event(r).data for r in rows if r.type == "policy_decided"]
        assert [d.rule for d in decided if isinstance(d, PolicyDecided)][-1] == "credential.denied"
        # While the store is open, recent writes may sit in the WAL file.
        wal = db.with_name(db.name + "-wal")
        raw = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert leaks(raw, issuer.tokens) == []
    finally:
        await store.close()
    return outcomes


FORMATS = ("json", "html")


def test_no_credential_token_is_ever_recorded_shown_or_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "proctor.db"
    issuer = RecordingIssuer()
    seen = Recorded()

    outcomes = asyncio.run(run_everything(db, issuer, seen))

    assert outcomes == {
        "Clean invoice": "resolved",
        "Over the approval threshold": "resolved",
        "Risky payment, second check": "escalated",
        "Prompt injection in the invoice": "escalated",
        "Runaway re-checking": "escalated",
        "Payment before the policy check": "escalated",
        "foreign vendor": "escalated",
    }
    tokens = issuer.tokens
    assert len(tokens) >= 12  # every ERP call of every run
    assert leaks(db.read_bytes(), tokens) == []
    for path in tmp_path.rglob("*"):  # the store, and the example ERP's database
        if path.is_file():
            assert leaks(path.read_bytes(), tokens) == [], path.name
    assert leaks("\n".join(seen.messages).encode(), tokens) == []
    assert leaks(caplog.text.encode(), tokens) == []
    assert leaks(repr([r.__dict__ for r in caplog.records]).encode(), tokens) == []

    cli = CliRunner()
    listed = cli.invoke(app, ["--db", str(db), "runs", "--json"])
    assert listed.exit_code == 0, listed.output
    assert leaks(listed.output.encode(), tokens) == []
    approvals = cli.invoke(app, ["--db", str(db), "approvals", "--all", "--json"])
    assert approvals.exit_code == 0, approvals.output
    assert leaks(approvals.output.encode(), tokens) == []
    run_ids = [line.split('"')[3] for line in listed.output.splitlines() if '"run_id"' in line]
    assert len(run_ids) == len(outcomes)
    jtis = {credential.jti for credential in issuer.issued}
    shown: set[str] = set()
    for run_id in run_ids:
        receipts = [["audit", "export", run_id, "--format", kind, "-o", "-"] for kind in FORMATS]
        for command in (["trace", run_id, "--json"], ["trace", run_id], *receipts):
            traced = cli.invoke(app, ["--db", str(db), *command])
            assert traced.exit_code == 0, traced.output
            assert leaks(traced.output.encode(), tokens) == []
            shown |= {jti for jti in jtis if jti in traced.output}
    # Each credential is on record, by its id.
    assert shown == jtis
