"""Ctrl-C during `proctor run`: the run's row says how far it got, the person is told how
to continue, and the command exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_harness import PROCTOR, cli_env

from proctor.examples import invoice
from proctor.store import RunFilter, SQLiteStore

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


async def test_ctrl_c_keeps_the_run_row_current_and_says_how_to_resume(
    proctor_home: Path, tmp_path: Path
) -> None:
    path = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = cli_env(proctor_home, {"PYTHONPATH": os.pathsep.join(path)})
    given = tmp_path / "invoice.json"
    given.write_text(json.dumps(invoice.sample_input("clean")))
    proc = subprocess.Popen(
        [str(PROCTOR), "run", "slow_workflows:slow_vendor", "--input", str(given)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (proctor_home / "proctor.db").exists():
        assert time.monotonic() < deadline, "the run never created its store"
        time.sleep(0.05)
    store = SQLiteStore(proctor_home / "proctor.db")
    try:
        # The slow vendor lookup (20 s) has started: the invoice was parsed before it.
        while not await _looking_up_vendor(store):
            assert time.monotonic() < deadline, "the run never reached the vendor lookup"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, out + err
        [run] = await store.list_runs(_all())
        assert f"Continue it with `proctor resume {run.run_id}`" in err, err
        assert "Traceback" not in err
        assert run.status == "running"
        assert run.tool_calls >= 1  # not the zeros written when the run started
        assert run.model_calls >= 2
        rows = await store.events(run.run_id)
        assert (run.last_seq, run.head_hash) == (rows[-1].seq, rows[-1].hash)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await store.close()


def _all() -> RunFilter:
    return RunFilter(limit=10)


async def _looking_up_vendor(store: SQLiteStore) -> bool:
    for run in await store.list_runs(_all()):
        for row in await store.events(run.run_id):
            if row.type == "tool_started" and row.meta.get("tool") == "erp.lookup_vendor":
                return True
    return False
