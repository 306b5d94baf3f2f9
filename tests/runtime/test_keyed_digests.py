"""Digests of raw content in the record are keyed: a masked card number in a call's
arguments cannot be recovered by hashing guesses, and an approval still binds its call.
(That the approved call then runs with the raw card number after a resume needs sealed
payloads, issue 15: the log keeps the masked one.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

from proctor.contracts import Contract
from proctor.gateway import ScriptedModel, Turn
from proctor.policy import load_signing_key
from proctor.runtime import Runner, Workflow, decide_approval
from proctor.store import (
    ModelCalled,
    SQLiteStore,
    ToolProposed,
    canonical_json,
    digest,
    jcs,
    keyed_digest,
    load_evidence_keys,
    row_to_event,
    verify_rows,
)
from proctor.tools import Registry, tool

CARD = "4111111111111111"
PAID: list[str] = []


@tool("billing.charge", effect="write")
def charge(card: str, amount: float) -> dict[str, bool]:
    """Charge a card."""
    PAID.append(card)
    return {"charged": True}


def workflow() -> Workflow:
    turns = [Turn(calls=[("billing.charge", {"card": CARD, "amount": 20})]), Turn(text="ok")]
    return Workflow(
        name="charges",
        registry=Registry([charge]),
        contract=Contract.model_validate(
            {"workflow": "charges", "approvals": [{"tool": "billing.charge"}]}
        ),
        instructions="Charge the card.",
        default_model="scripted:test",
        scripts={"test": lambda: ScriptedModel(scenario="test", script=list(turns))},
    )


async def test_a_call_digest_cannot_be_recomputed_from_a_guess(tmp_path: Path) -> None:
    PAID.clear()
    store = SQLiteStore(tmp_path / "runs.db")
    try:
        runner = Runner(store, workflow())
        started = await runner.start({"customer": "c1"})
        events = [row_to_event(row).data for row in await store.events(started.run_id)]
        [proposed] = [e for e in events if isinstance(e, ToolProposed)]
        call = {"tool": "billing.charge", "arguments": {"card": CARD, "amount": 20}}

        # A guess of the (masked) card number does not give the recorded digest back ...
        assert proposed.args_digest != digest(call)
        assert proposed.args_digest != hashlib.sha256(canonical_json(call)).hexdigest()
        # ... only the holder of the signing key can recompute it.
        assert proposed.args_digest == keyed_digest(load_signing_key(), call)
        called = [e for e in events if isinstance(e, ModelCalled)]
        assert called
        assert all(len(e.messages_digest) == 64 for e in called)

        # The approval is still bound to that exact call, and can be decided.
        pending = started.state.pending_approval
        assert pending is not None
        approval = await store.get_approval(pending)
        assert approval is not None
        assert approval.args_digest == proposed.args_digest
        decided = await decide_approval(store, pending, approved=True, by="ops")
        assert decided.status == "approved"
    finally:
        await store.close()


async def test_no_payload_digest_confirms_a_guess(tmp_path: Path) -> None:
    """Every payload's digest in the chain is keyed: hashing a guess of the payload (the
    arguments with the card number, as redaction masked them or not) matches none."""
    store = SQLiteStore(tmp_path / "runs.db")
    try:
        started = await Runner(store, workflow()).start({"customer": "c1"})
        rows = await store.events(started.run_id)
        with_payload = [row for row in rows if row.content]
        assert with_payload
        for row in with_payload:
            assert row.content is not None
            public = hashlib.sha256(jcs(row.content)).hexdigest()
            assert row.content_digest != public
            assert row.content_digest != digest(row.content)
            assert row.content_digest.partition(".")[2] != public
            assert load_evidence_keys().content_digest_matches(jcs(row.content), row.content_digest)
        report = verify_rows(
            started.run_id, rows, await store.get_run(started.run_id), load_evidence_keys()
        )
        assert report.ok, report.problem
    finally:
        await store.close()
