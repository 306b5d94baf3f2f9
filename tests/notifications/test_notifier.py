"""Pending approvals announced for real: a signed webhook to a local receiver, an e-mail to
a local SMTP server, a Slack message; routed by the contract's rules; every attempt logged."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from proctor.contracts import Contract
from proctor.gateway import NotificationsConfig, ScriptedModel, Turn
from proctor.notifications import Notifier, verify_signature
from proctor.notifications._notifier import CLAIM_S
from proctor.runtime import Runner, Workflow
from proctor.store import DeliveryRecord, SQLiteStore, Store
from proctor.tools import Registry, tool
from support.webhook_receiver import WebhookReceiver as Receiver

SECRET = "hook-secret-for-tests"


@tool("billing.refund", effect="write", idempotent=True)
def refund(amount: float) -> dict[str, Any]:
    """Refund."""
    return {"refunded": amount}


@tool("crm.delete", effect="write")
def delete(customer: str) -> dict[str, Any]:
    """Delete."""
    return {"deleted": customer}


@tool("crm.wipe", effect="write")
def wipe(customer: str) -> dict[str, Any]:
    """Wipe (the contract forbids it)."""
    return {"wiped": customer}


def workflow() -> Workflow:
    contract = Contract.model_validate(
        {
            "workflow": "refunds",
            "forbidden_tools": ["crm.wipe"],
            "escalation": {"on_policy_violation": True, "notify": ["team"]},
            "approvals": [
                {"id": "refund", "tool": "billing.refund", "reason": "money", "notify": ["ops"]},
                {"tool": "crm.delete", "reason": "deletes data"},  # no notify: the default
            ],
        }
    )
    return Workflow(
        name="refunds",
        registry=Registry([refund, delete, wipe]),
        contract=contract,
        instructions="Refund.",
        default_model="scripted:refund",
        scripts={
            "refund": lambda: ScriptedModel(
                scenario="refund", script=[Turn(calls=[("billing.refund", {"amount": 5})])]
            ),
            "delete": lambda: ScriptedModel(
                scenario="delete", script=[Turn(calls=[("crm.delete", {"customer": "c1"})])]
            ),
            "rogue": lambda: ScriptedModel(
                scenario="rogue", script=[Turn(calls=[("crm.wipe", {"customer": "c1"})])]
            ),
        },
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as found:
        yield found


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "runs.db")
    yield store
    await store.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def config(**channels: Any) -> NotificationsConfig:
    return NotificationsConfig.model_validate(
        {"base_url": "https://proctor.example.com", "channels": channels, "default": ["ops"]}
        if "ops" in channels
        else {"base_url": "https://proctor.example.com", "channels": channels}
    )


async def pending(store: Store, model: str = "scripted:refund") -> str:
    result = await Runner(store, workflow()).start({}, model=model)
    assert result.state.pending_approval is not None
    return result.state.pending_approval


async def test_a_pending_approval_reaches_a_signed_webhook_once(
    db: SQLiteStore, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    approval_id = await pending(db)
    notifier = Notifier(
        db, config(ops={"webhook": {"url": receiver.url, "secret_env": "HOOK_SECRET"}})
    )
    try:
        report = await notifier.dispatch()
        assert (report.pending, report.sent, report.failed) == (1, 1, 0)
        assert (await notifier.dispatch()).sent == 0  # told once
    finally:
        await notifier.close()
    [(headers, body)] = receiver.requests
    assert verify_signature(SECRET.encode(), body, headers)
    assert not verify_signature(SECRET.encode(), body.replace(b"5", b"6"), headers)
    assert not verify_signature(b"another secret", body, headers)
    sent = json.loads(body)
    assert sent["event"] == "approval.requested"
    assert sent["approval"]["approval_id"] == approval_id
    assert sent["approval"]["tool"] == "billing.refund"
    assert sent["approval"]["arguments"] == {"amount": 5}
    assert sent["approval"]["rule"] == "approval.refund"
    assert sent["link"] == f"https://proctor.example.com/ui/approvals#{approval_id}"
    [logged] = await db.deliveries([approval_id])
    assert (logged.channel, logged.attempt, logged.ok, logged.detail) == (
        "ops",
        1,
        True,
        "HTTP 200",
    )


async def test_a_failed_delivery_is_tried_again_after_a_doubling_wait(db: SQLiteStore) -> None:
    flaky = Receiver(statuses=[503, 502])
    clock = Clock()
    approval_id = await pending(db)
    notifier = Notifier(db, config(ops={"webhook": {"url": flaky.url}}), clock=clock)
    try:
        assert (await notifier.dispatch()).failed == 1
        assert (await notifier.dispatch()).failed == 0  # not due yet
        clock.now += 5
        assert (await notifier.dispatch()).failed == 1
        clock.now += 9  # the second wait is 10 s
        assert (await notifier.dispatch()).sent == 0
        clock.now += 1
        assert (await notifier.dispatch()).sent == 1
    finally:
        await notifier.close()
        flaky.close()
    log = await db.deliveries([approval_id])
    assert [(d.attempt, d.ok, d.detail.split(" from")[0]) for d in log] == [
        (1, False, "HTTP 503"),
        (2, False, "HTTP 502"),
        (3, True, "HTTP 200"),
    ]
    assert [d.next_at for d in log] == [1_000_005.0, 1_000_015.0, None]


async def test_rules_route_to_their_channels_and_the_rest_to_the_default(
    db: SQLiteStore, receiver: Receiver
) -> None:
    mail = Receiver()
    refund_id = await pending(db, "scripted:refund")  # notify: [ops]
    delete_id = await pending(db, "scripted:delete")  # no notify: the default
    settings = NotificationsConfig.model_validate(
        {
            "channels": {
                "ops": {"webhook": {"url": receiver.url}},
                "team": {"webhook": {"url": mail.url}},
            },
            "default": ["team"],
        }
    )
    notifier = Notifier(db, settings)
    try:
        assert (await notifier.dispatch()).sent == 2
    finally:
        await notifier.close()
        mail.close()
    assert [json.loads(b)["approval"]["approval_id"] for _, b in receiver.requests] == [refund_id]
    assert [json.loads(b)["approval"]["approval_id"] for _, b in mail.requests] == [delete_id]


async def test_an_unknown_channel_is_logged_once_and_not_retried(db: SQLiteStore) -> None:
    approval_id = await pending(db)  # its rule says notify: [ops]; only "team" exists
    notifier = Notifier(db, config(team={"webhook": {"url": "http://127.0.0.1:9/x"}}))
    assert (await notifier.dispatch()).failed == 1
    assert (await notifier.dispatch()).failed == 0
    [logged] = await db.deliveries([approval_id])
    assert "no channel named 'ops'" in logged.detail
    assert logged.next_at is None


async def test_an_e_mail_reaches_a_real_smtp_server(db: SQLiteStore) -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:  # a free port: the controller checks it by connecting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        approval_id = await pending(db)
        email = {
            "host": "127.0.0.1",
            "port": port,
            "starttls": False,
            "sender": "proctor@example.com",
            "to": ["finance@example.com"],
        }
        notifier = Notifier(db, config(ops={"email": email}))
        assert (await notifier.dispatch()).sent == 1
    finally:
        smtp.stop()
    [raw] = received
    message = message_from_bytes(raw)
    assert message["Subject"] == "Approval needed: billing.refund in refunds"
    assert message["To"] == "finance@example.com"
    text = message.get_payload()
    assert f"https://proctor.example.com/ui/approvals#{approval_id}" in text
    assert '"amount": 5' in text
    [logged] = await db.deliveries([approval_id])
    assert logged.detail == "SMTP accepted for 1 of 1 recipient(s)"


async def test_a_slack_message_links_to_the_decision(
    db: SQLiteStore, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", receiver.url)
    approval_id = await pending(db)
    notifier = Notifier(db, config(ops={"slack": {"webhook_url_env": "SLACK_URL"}}))
    try:
        assert (await notifier.dispatch()).sent == 1
    finally:
        await notifier.close()
    [(_, body)] = receiver.requests
    message = json.loads(body)
    assert message["text"] == "Approval needed: billing.refund in refunds"
    [button] = message["blocks"][-1]["elements"]
    assert button["url"] == f"https://proctor.example.com/ui/approvals#{approval_id}"


async def test_a_channel_missing_its_secret_says_which_variable(
    db: SQLiteStore, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    approval_id = await pending(db)
    channel = {"webhook": {"url": receiver.url, "secret_env": "HOOK_SECRET"}}
    assert (await Notifier(db, config(ops=channel)).dispatch()).failed == 1
    [logged] = await db.deliveries([approval_id])
    assert logged.detail.startswith("HOOK_SECRET is not set")
    assert receiver.requests == []  # nothing unsigned was sent instead


def test_a_channel_is_one_kind_and_defaults_name_channels() -> None:
    with pytest.raises(ValueError, match="exactly one of webhook, email or slack"):
        NotificationsConfig.model_validate({"channels": {"x": {}}})
    with pytest.raises(ValueError, match="default names channel 'ops'"):
        NotificationsConfig.model_validate({"default": ["ops"]})


async def test_an_escalated_run_is_announced_on_its_contracts_channels(
    db: SQLiteStore, receiver: Receiver
) -> None:
    ended = await Runner(db, workflow()).start({}, model="scripted:rogue")
    assert ended.outcome == "escalated"
    ops = Receiver()
    settings = NotificationsConfig.model_validate(
        {
            "base_url": "https://proctor.example.com",
            "channels": {
                "team": {"webhook": {"url": receiver.url}},
                "ops": {"webhook": {"url": ops.url}},
            },
            "default": ["ops"],
        }
    )
    notifier = Notifier(db, settings)
    try:
        report = await notifier.dispatch()
        assert (report.escalated, report.sent) == (1, 1)
        assert (await notifier.dispatch()).sent == 0  # told once
    finally:
        await notifier.close()
        ops.close()
    assert ops.requests == []  # the contract's escalation.notify names team only
    [(headers, body)] = receiver.requests
    assert headers["x-proctor-event"] == "run.escalated"
    sent = json.loads(body)
    assert sent["run"]["run_id"] == ended.run_id
    assert "crm.wipe" in sent["run"]["reason"]
    assert sent["link"] == f"https://proctor.example.com/runs/{ended.run_id}"
    [logged] = await db.deliveries([ended.run_id])
    assert (logged.subject_id, logged.channel, logged.ok) == (ended.run_id, "team", True)


async def test_of_several_processes_announcing_one_sends_each_message(
    tmp_path: Path, receiver: Receiver
) -> None:
    # Three notifiers on three connections to one store file, as three `proctor serve`
    # processes would be, all passing at once: each approval is told once.
    path = tmp_path / "shared.db"
    stores = [SQLiteStore(path) for _ in range(3)]
    try:
        approvals = {await pending(stores[0]) for _ in range(4)}
        settings = config(ops={"webhook": {"url": receiver.url}})
        notifiers = [Notifier(store, settings) for store in stores]
        reports = await asyncio.gather(*(notifier.dispatch() for notifier in notifiers))
        for notifier in notifiers:
            await notifier.close()
        assert sum(report.sent for report in reports) == 4
        told = [json.loads(body)["approval"]["approval_id"] for body in receiver.bodies]
        assert sorted(told) == sorted(approvals)
    finally:
        for store in stores:
            await store.close()


async def test_an_attempt_whose_process_died_is_made_again_after_its_claim(
    db: SQLiteStore, receiver: Receiver
) -> None:
    clock = Clock()
    approval_id = await pending(db)
    # A process claimed attempt 1 and died before it sent anything.
    assert await db.claim_delivery(
        DeliveryRecord(
            delivery_id="dl_dead",
            subject_id=approval_id,
            channel="ops",
            attempt=1,
            at=clock.now,
            ok=False,
            detail="sending",
            next_at=clock.now + CLAIM_S,
        )
    )
    notifier = Notifier(db, config(ops={"webhook": {"url": receiver.url}}), clock=clock)
    try:
        assert (await notifier.dispatch()).sent == 0  # its claim still holds
        clock.now += CLAIM_S
        assert (await notifier.dispatch()).sent == 1
    finally:
        await notifier.close()
    dead, sent = await db.deliveries([approval_id])
    assert (dead.detail, sent.attempt, sent.ok) == ("sending", 2, True)
