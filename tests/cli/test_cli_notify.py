"""`proctor notify run --once` and `proctor notify log`: the notifier from the command line,
against a local webhook receiver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import ISO_TIME, Ran, proctor_main

from proctor.examples import invoice
from support.webhook_receiver import WebhookReceiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(statuses=[204]) as receiver:
        yield receiver


def test_notify_once_delivers_and_the_log_shows_it(
    tmp_path: Path, hook: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    def proctor(*args: str) -> Ran:
        return proctor_main(*args, capsys=capsys)

    url = hook.url
    config = tmp_path / "proctor.yaml"
    config.write_text(
        f"notifications:\n  channels: {{ops: {{webhook: {{url: '{url}'}}}}}}\n  default: [ops]\n"
    )
    sample = tmp_path / "over.json"
    sample.write_text(json.dumps(invoice.sample_input("over_threshold")))
    started = proctor("run", "invoice_reconciliation", "--input", str(sample), "--json")
    assert started.code == 10, str(started)
    approval = started.json()["pending_approval"]

    once = proctor("--config", str(config), "notify", "run", "--once")
    assert once.code == 0, str(once)
    assert "1 pending approval(s), 0 decision(s), 0 escalated run(s): 1 delivered, 0 failed" in (
        once.out
    )
    [body] = hook.bodies
    assert json.loads(body)["approval"]["approval_id"] == approval
    again = proctor("--config", str(config), "notify", "run", "--once")
    assert "0 delivered" in again.out  # told once

    # The decision is announced where the request was.
    assert proctor("approve", approval, "--as", "alice", "--reason", "ok").code == 0
    told = proctor("--config", str(config), "notify", "run", "--once")
    assert "0 pending approval(s), 1 decision(s), 0 escalated run(s): 1 delivered" in told.out
    decided = json.loads(hook.bodies[-1])
    assert decided["event"] == "approval.decided"
    assert decided["approval"] | {"decided_at": None} == decided["approval"] | {
        "approval_id": approval,
        "status": "approved",
        "decided_by": "alice",
        "decision_reason": "ok",
        "decided_at": None,
    }

    log = proctor("notify", "log", approval, "--json")
    request, decision = log.json()["deliveries"]
    assert (request["channel"], request["attempt"], request["ok"]) == ("ops", 1, True)
    assert request["detail"] == "HTTP 204"
    assert re.fullmatch(ISO_TIME, request["at"])
    assert decision["subject_id"] == f"{approval}/decided"


def test_notify_without_channels_says_how_to_add_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def proctor(*args: str) -> Ran:
        return proctor_main(*args, capsys=capsys)

    sample = tmp_path / "clean.json"
    sample.write_text(json.dumps(invoice.sample_input("clean")))
    assert proctor("run", "invoice_reconciliation", "--input", str(sample)).code == 0
    ran = proctor("notify", "run", "--once")
    assert ran.code == 2
    assert "names no channel" in ran.err
    assert "docs/notifications.md" in ran.err
