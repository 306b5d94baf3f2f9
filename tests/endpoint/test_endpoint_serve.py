"""``proctor gateway serve`` as a user runs it, and the call ledger's guarantees.

The serve tests start the installed console script: the first refuses to expose a
keyless gateway; the second serves a call, is stopped with SIGINT, and the call is in
the ledger afterwards (the queue is written on shutdown).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import openai
import pytest
import yaml

from proctor.endpoint import check_exposure
from proctor.errors import ConfigError
from proctor.store import GatewayCallRecord, SQLiteStore
from support.fake_openai import FakeOpenAIServer

PROCTOR = Path(sys.executable).with_name("proctor")


def test_serving_without_keys_beyond_loopback_is_refused() -> None:
    check_exposure([], "127.0.0.1")
    check_exposure([], "::1")
    for host in ("0.0.0.0", "192.0.2.7", "gateway.internal"):
        with pytest.raises(ConfigError, match=f"refusing to serve on {host} without API keys"):
            check_exposure([], host)


def write_config(path: Path, base_url: str, *, keys: bool) -> Path:
    config: dict[str, object] = {
        "models": {"small": {"model": "gpt-4o-mini", "base_url": base_url}},
    }
    if keys:
        config["keys"] = [{"name": "ops", "key_env": "OPS_KEY"}]
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PROCTOR), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "upstream", "OPS_KEY": "sk-ops", "NO_COLOR": "1"}


@pytest.mark.slow
def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path / "proctor.yaml", "http://127.0.0.1:9/v1", keys=False)
    proc = start(["gateway", "serve", "--host", "0.0.0.0", "--config", str(config)], env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "refusing to serve on 0.0.0.0 without API keys" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_serve_says_in_one_line_when_its_port_is_taken(tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path / "proctor.yaml", "http://127.0.0.1:9/v1", keys=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ["--db", str(tmp_path / "x.db"), "gateway", "serve", "--port", port]
        proc = start([*args, "--config", str(config)], env)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert out == ""
    # As `proctor serve` says it, and before anything claims to be serving.
    assert err == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use. Fix: choose "
        "another --port, or a --host address of this machine (127.0.0.1 by default)\n"
    )


@pytest.mark.slow
def test_serve_answers_and_writes_the_ledger_when_stopped(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db, port = tmp_path / "proctor.db", free_port()
    with FakeOpenAIServer() as upstream:
        config = write_config(tmp_path / "proctor.yaml", upstream.base_url, keys=True)
        args = ["--db", str(db), "gateway", "serve", "--port", str(port), "--config", str(config)]
        proc = start(args, env)
        try:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-ops")
            deadline = time.monotonic() + 60
            while True:  # until the server accepts connections
                try:
                    answer = client.chat.completions.create(
                        model="small", messages=[{"role": "user", "content": "hi"}]
                    )
                    break
                except openai.APIConnectionError:
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline, "the gateway did not start"
                    time.sleep(0.1)
            client.close()
            assert answer.choices[0].message.content == "ok"
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err  # as every proctor command stopped by Ctrl-C
    assert "Traceback" not in err
    rows = asyncio.run(_ledger(db))
    assert [(r.key_name, r.route, r.status) for r in rows] == [("ops", "small", 200)]
    assert rows[0].cost_usd == pytest.approx(4.5e-6)


async def _ledger(path: Path) -> list[GatewayCallRecord]:
    store = SQLiteStore(path)
    try:
        return await store.gateway_calls()
    finally:
        await store.close()
