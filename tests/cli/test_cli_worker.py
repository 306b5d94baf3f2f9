"""``proctor submit``, ``proctor worker`` and ``proctor queue`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_harness import PROCTOR, cli_env, proctor
from typer.testing import CliRunner

from proctor.cli import app
from proctor.examples import invoice
from proctor.runtime import submit
from proctor.store import SQLiteStore

HERE = Path(__file__).parent


def _input(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(invoice.sample_input(name)))
    return str(path)


@pytest.mark.slow
def test_submitted_runs_are_driven_by_a_draining_worker(tmp_path: Path, proctor_home: Path) -> None:
    env = cli_env(proctor_home)
    # In process where a subprocess adds nothing (each costs ~0.7 s); the worker is one.
    flow = "invoice_reconciliation"
    clean = CliRunner().invoke(app, ["submit", flow, "--input", _input(tmp_path, "clean")])
    assert clean.exit_code == 0, clean.output
    over = _input(tmp_path, "over_threshold")
    urgent = CliRunner().invoke(app, ["submit", flow, "-i", over, "--priority", "5"])
    assert urgent.exit_code == 0, urgent.output
    listed = CliRunner().invoke(app, ["queue", "--state", "queued"])
    assert listed.output.index(urgent.output.strip()) < listed.output.index(clean.output.strip())

    ran = proctor("worker", "--drain", "-c", "2", "--limit", "invoice_reconciliation=1", env=env)
    assert ran.code == 0, ran
    assert "2 claimed, 1 finished, 1 waiting for approval" in ran.out, ran
    waiting = CliRunner().invoke(app, ["queue", "--state", "waiting"])
    assert urgent.output.strip() in waiting.output, waiting.output

    # Deciding a queued run's approval leaves the run to the workers: no race for it.
    (pending,) = json.loads(CliRunner().invoke(app, ["approvals", "--json"]).output)["approvals"]
    approved = CliRunner().invoke(app, ["approve", pending["approval_id"], "--as", "bob"])
    assert approved.exit_code == 0, approved.output
    assert "is in the run queue: a worker continues it" in approved.output
    assert "resolved" not in approved.output
    again = proctor("worker", "--drain", env=env)
    assert again.code == 0, again
    assert "1 claimed, 1 finished" in again.out, again


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["submit", "no_such_flow", "--input", "{input}"], "no workflow named 'no_such_flow'"),
        (["worker", "--limit", "invoices"], "write WORKFLOW=N"),
        (["worker", "--workflows", ","], "--workflows is empty"),
        (["queue", "--state", "lost"], "unknown state 'lost'"),
    ],
)
def test_bad_queue_options_are_refused_with_the_fix(
    tmp_path: Path, args: list[str], error: str
) -> None:
    given = [a.format(input=_input(tmp_path, "clean")) for a in args]
    result = CliRunner().invoke(app, given)
    assert result.exit_code != 0
    assert error in str(result.exception), result.output


@pytest.mark.slow
async def test_sigterm_hands_the_lease_back_and_exits_0(proctor_home: Path) -> None:
    path = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = cli_env(proctor_home, {"PYTHONPATH": os.pathsep.join(path)})
    store = SQLiteStore(proctor_home / "proctor.db")
    run_id = await submit(store, "slow_workflows:slow_vendor", invoice.sample_input("clean"))
    worker = subprocess.Popen(
        [str(PROCTOR), "worker", "--grace", "0.2", "--workflow", "slow_workflows:slow_vendor"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not await store.queue_items(state="claimed"):
            assert time.monotonic() < deadline, "the worker never claimed the run"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
        assert worker.returncode == 0, out + err
        assert "1 handed back" in out, out + err
        [item] = await store.queue_items()
        assert (item.run_id, item.state, item.worker, item.lease_until) == (
            run_id,
            "queued",
            None,
            None,
        )
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        await store.close()


def test_submitting_an_unconfigured_ref_says_where_workers_need_it(
    tmp_path: Path, proctor_home: Path
) -> None:
    sample = _input(tmp_path, "clean")
    ran = CliRunner().invoke(app, ["submit", "server.own_workflows:own", "--input", sample])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.strip().startswith("run_")
    assert "proctor worker --workflow server.own_workflows:own" in ran.stderr
    registered = CliRunner().invoke(app, ["submit", "invoice_reconciliation", "--input", sample])
    assert registered.stderr == ""
