"""`proctor notify run --once` and `proctor notify log`: the notifier from the command line,
against a local webhook receiver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import ISO_TIME, cli_env, proctor

from proctor.examples import invoice
from support.webhook_receiver import WebhookReceiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(statuses=[204]) as receiver:
        yield receiver


def test_notify_once_delivers_and_the_log_shows_it(
    proctor_home: Path, tmp_path: Path, hook: WebhookReceiver
) -> None:
    url = hook.url
    config = tmp_path / "proctor.yaml"
    config.write_text(
        f"notifications:\n  channels: {{ops: {{webhook: {{url: '{url}'}}}}}}\n  default: [ops]\n"
    )
    env = cli_env(proctor_home)
    sample = tmp_path / "over.json"
    sample.write_text(json.dumps(invoice.sample_input("over_threshold")))
    started = proctor("run", "invoice_reconciliation", "--input", str(sample), "--json", env=env)
    assert started.code == 10, str(started)
    approval = started.json()["pending_approval"]

    once = proctor("--config", str(config), "notify", "run", "--once", env=env)
    assert once.code == 0, str(once)
    assert "1 pending approval(s), 0 escalated run(s): 1 delivered, 0 failed" in once.out
    [body] = hook.bodies
    assert json.loads(body)["approval"]["approval_id"] == approval
    again = proctor("--config", str(config), "notify", "run", "--once", env=env)
    assert "0 delivered" in again.out  # told once

    log = proctor("notify", "log", approval, "--json", env=env)
    [delivery] = log.json()["deliveries"]
    assert (delivery["channel"], delivery["attempt"], delivery["ok"]) == ("ops", 1, True)
    assert delivery["detail"] == "HTTP 204"
    assert re.fullmatch(ISO_TIME, delivery["at"])


def test_notify_without_channels_says_how_to_add_one(proctor_home: Path, tmp_path: Path) -> None:
    env = cli_env(proctor_home)
    sample = tmp_path / "clean.json"
    sample.write_text(json.dumps(invoice.sample_input("clean")))
    assert proctor("run", "invoice_reconciliation", "--input", str(sample), env=env).code == 0
    ran = proctor("notify", "run", "--once", env=env)
    assert ran.code == 2
    assert "names no channel" in ran.err
    assert "docs/notifications.md" in ran.err
