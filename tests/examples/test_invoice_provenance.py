"""The invoice contract's data-flow rule: the account paid comes from the ERP, never from
the invoice text. An agent that believes "our bank details have changed" is refused that
payment, told why, and then pays the account on file: the user's task still resolves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from proctor.examples import invoice
from proctor.examples.invoice import _erp, _models
from proctor.gateway import Message, ScriptedModel, Turn
from proctor.runtime import Runner
from proctor.store import PolicyDecided, SQLiteStore, ToolFinished, row_to_event

PAY = "erp.create_payment"


async def test_the_invoice_cannot_redirect_the_payment(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    try:
        model = ScriptedModel(scenario="redirected", script=_models.redirected)
        runner = Runner(store, invoice.workflow(), model=model)
        result = await runner.start(invoice.sample_input("injected"))
        events = [row_to_event(row).data for row in await store.events(result.run_id)]
    finally:
        await store.close()

    decided = [(d.tool, d.decision, d.rule) for d in events if isinstance(d, PolicyDecided)]
    assert (PAY, "deny", "rule.iban-from-erp") in decided
    paid = [d for d in events if isinstance(d, ToolFinished) and d.tool == PAY and d.ok]
    assert len(paid) == 1
    assert result.outcome == "resolved"
    payments = _erp.list_payments()
    assert [p["vendor_id"] for p in payments] == ["V-1001"]


async def test_the_vendors_own_iban_from_the_erp_is_allowed(tmp_path: Path) -> None:
    vendor = _erp.get_vendor("V-1001")
    store = SQLiteStore(tmp_path / "runs.db")

    def with_erp_iban(messages: Sequence[Message]) -> Turn:
        turn = _models.procedure(messages)
        if turn.calls and turn.calls[0][0] == PAY:
            return Turn(calls=[(PAY, {**turn.calls[0][1], "iban": vendor["iban"]})])
        return turn

    try:
        model = ScriptedModel(scenario="erp-iban", script=with_erp_iban)
        result = await Runner(store, invoice.workflow(), model=model).start(
            invoice.sample_input("clean")
        )
    finally:
        await store.close()
    assert result.outcome == "resolved"
