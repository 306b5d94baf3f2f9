"""Approve and Deny from Slack: `proctor serve` announces a pending approval to a Slack
webhook (a local receiver) with buttons; a click signed like Slack signs it decides as
the mapped approver, with separation of duties; the answer goes to the click's
response_url, and the decision is announced where the request was."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from proctor.examples import invoice
from proctor.notifications import slack_signature
from proctor.runtime import Runner
from proctor.server import create_server
from proctor.store import SQLiteStore, Store
from support.webhook_receiver import WebhookReceiver

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ACTIONS = "/integrations/slack/actions"


class Slack:
    """Slack's side: the incoming webhook (messages posted to the channel) and the
    response_url of clicks, both local receivers."""

    def __init__(self) -> None:
        self.channel = WebhookReceiver()
        self.responses = WebhookReceiver()

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.channel.bodies]

    def wait(self, count: int, receiver: WebhookReceiver | None = None) -> list[dict[str, Any]]:
        receiver = receiver or self.channel
        deadline = time.monotonic() + 10
        while len(receiver.bodies) < count:
            assert time.monotonic() < deadline, f"Slack got {receiver.bodies}"
            time.sleep(0.02)
        return [json.loads(body) for body in receiver.bodies]


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Slack]:
    slack = Slack()
    monkeypatch.setenv("SLACK_HOOK", slack.channel.url)
    monkeypatch.setenv("SLACK_SECRET", SECRET)
    yield slack
    slack.channel.close()
    slack.responses.close()


@pytest.fixture
def served(tmp_path: Path, slack: Slack) -> Iterator[tuple[TestClient, Store, str]]:
    config = tmp_path / "proctor.yaml"
    config.write_text(
        "notifications:\n"
        "  poll_s: 0.1\n"
        "  channels:\n"
        "    team:\n"
        "      slack:\n"
        "        webhook_url_env: SLACK_HOOK\n"
        "        signing_secret_env: SLACK_SECRET\n"
        "        approvers: {U_BOB: bob, U_ALICE: {identity: alice}}\n"
        "  default: [team]\n"
    )
    store = SQLiteStore(tmp_path / "server.db")
    started = asyncio.run(
        Runner(store, invoice.workflow()).start(
            invoice.sample_input("over_threshold"), started_by="alice"
        )
    )
    approval_id = started.state.pending_approval
    assert approval_id is not None
    app = create_server(store, session_secret="s" * 40, config=str(config))
    try:
        with TestClient(app, base_url="https://127.0.0.1") as client:
            yield client, store, approval_id
    finally:
        asyncio.run(store.close())


def click(
    client: TestClient,
    slack: Slack,
    message: dict[str, Any],
    action_id: str,
    user: str,
    *,
    sign: Callable[[str, bytes], str] | None = None,
    at: float | None = None,
) -> int:
    """Click the button ``action_id`` of ``message`` as Slack user ``user``, signed as
    Slack signs it (or by ``sign``), and return the status Slack would see."""
    [actions] = [block for block in message["blocks"] if block["type"] == "actions"]
    [button] = [b for b in actions["elements"] if b.get("action_id") == action_id]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "team": {"id": "T1"},
        "response_url": slack.responses.url,
        "actions": [{"action_id": action_id, "value": button["value"], "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time() if at is None else at))
    signed = (sign or (lambda s, b: slack_signature(SECRET.encode(), s, b)))(stamp, body)
    answer = client.post(
        ACTIONS,
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signed,
        },
    )
    return answer.status_code


def outcome(store: Store, run_id: str) -> str | None:
    """How the run ended, once it has (within 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        run = asyncio.run(store.get_run(run_id))
        assert run is not None
        if run.status == "finished" or time.monotonic() > deadline:
            return run.outcome
        time.sleep(0.05)


def test_an_approver_decides_from_slack_and_the_channel_hears_it(
    served: tuple[TestClient, Store, str], slack: Slack
) -> None:
    client, store, approval_id = served
    [request] = slack.wait(1)
    assert "Approval needed" in request["text"]
    buttons = [b for block in request["blocks"] for b in block.get("elements", [])]
    assert [b.get("action_id", "link") for b in buttons] == [
        "proctor_approve",
        "proctor_deny",
        "link",
    ]

    # Not Slack: no signature, a wrong one, or a replayed request five minutes old.
    assert click(client, slack, request, "proctor_approve", "U_BOB", sign=lambda s, b: "") == 401
    wrong = slack_signature(b"another secret", "1", b"")
    assert click(client, slack, request, "proctor_approve", "U_BOB", sign=lambda s, b: wrong) == 401
    old = time.time() - 301
    assert click(client, slack, request, "proctor_approve", "U_BOB", at=old) == 401
    # Slack users who may not decide are told so, only them, and nothing is decided.
    assert click(client, slack, request, "proctor_approve", "U_EVE") == 200
    assert click(client, slack, request, "proctor_approve", "U_ALICE") == 200
    stranger, starter = slack.wait(2, slack.responses)
    assert stranger["response_type"] == starter["response_type"] == "ephemeral"
    assert "not among the approvers of channel team" in stranger["text"]
    assert "Nothing was decided" in starter["text"]
    assert "started" in starter["text"]  # separation of duties: alice started the run
    approval = asyncio.run(store.get_approval(approval_id))
    assert approval is not None
    assert approval.status == "pending"

    assert click(client, slack, request, "proctor_approve", "U_BOB") == 200
    *_, answer = slack.wait(3, slack.responses)
    assert answer["replace_original"] is True
    assert answer["text"].startswith("Approved by bob: erp.create_payment")
    approval = asyncio.run(store.get_approval(approval_id))
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("approved", "bob")
    assert outcome(store, approval.run_id) == "resolved"
    # The decision is announced on the channel that was asked, once.
    _, decision = slack.wait(2)
    assert decision["text"] == (
        "Approved: erp.create_payment in invoice_reconciliation. Approved by bob"
    )
    # A second click finds it decided.
    assert click(client, slack, request, "proctor_approve", "U_BOB") == 200
    *_, late = slack.wait(4, slack.responses)
    assert "Nothing was decided" in late["text"]
    assert len(slack.messages()) == 2


def test_a_deny_from_slack_escalates_the_run(
    served: tuple[TestClient, Store, str], slack: Slack
) -> None:
    client, store, approval_id = served
    [request] = slack.wait(1)
    assert click(client, slack, request, "proctor_deny", "U_BOB") == 200
    [answer] = slack.wait(1, slack.responses)
    assert answer["text"].startswith("Denied by bob")
    approval = asyncio.run(store.get_approval(approval_id))
    assert approval is not None
    assert approval.decision_reason == "denied in Slack by bob"
    assert outcome(store, approval.run_id) == "escalated"


def test_a_body_that_is_not_a_click_is_a_clear_400(
    served: tuple[TestClient, Store, str], slack: Slack
) -> None:
    client, _, _ = served
    body = b"nonsense"
    stamp = str(int(time.time()))
    answer = client.post(
        ACTIONS,
        content=body,
        headers={
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(SECRET.encode(), stamp, body),
        },
    )
    assert answer.status_code == 400
    assert "payload=" in answer.text
