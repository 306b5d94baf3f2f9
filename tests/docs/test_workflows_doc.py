"""docs/workflows.md works as written: its files, then its commands, in a fresh folder.

Files are the guide's code blocks whose first line names a path (``# helpdesk/tools.py``);
commands are its ``$`` lines, run in order by a shell in that folder. The local model of
section 5 is a fake OpenAI-compatible server playing a model that answers the ticket.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.fake_openai import Completion, FakeOpenAIServer, FakeToolCall

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_RUN_ID = re.compile(r"run_[0-9a-f]{16}")

pytestmark = pytest.mark.slow


def _files() -> dict[str, str]:
    found = {}
    for language, body in _BLOCK.findall(GUIDE):
        first = body.splitlines()[0]
        if language in ("python", "yaml", "toml") and re.fullmatch(r"# [\w./-]+", first):
            found[first[2:]] = body
    return found


def _commands() -> list[str]:
    return [
        line[2:]
        for language, body in _BLOCK.findall(GUIDE)
        if language == "console"
        for line in body.splitlines()
        if line.startswith("$ ")
    ]


def _answers() -> list[Completion]:
    """What the fake local model says: the ticket, the knowledge base, the reply, done."""
    calls = [
        ("tickets.get", {"ticket_id": "T-1001"}),
        ("kb.search", {"query": "password resets"}),
        ("tickets.reply", {"ticket_id": "T-1001", "body": "Please clear your cookies."}),
    ]
    return [
        *(
            Completion(
                text=None, tool_calls=[FakeToolCall(name=name, arguments=json.dumps(arguments))]
            )
            for name, arguments in calls
        ),
        Completion(text="Answered T-1001."),
    ]


def test_the_workflow_guide_runs_as_written(tmp_path: Path) -> None:
    files = _files()
    assert set(files) == {
        "helpdesk/tools.py",
        "helpdesk/contract.yaml",
        "helpdesk/workflow.py",
        "proctor.yaml",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "PROCTOR_CACHE_DIR": str(tmp_path / "cache"),
    }
    script = []
    with FakeOpenAIServer(models=("llama3.1",)) as server:
        for completion in _answers():
            server.enqueue(completion)
        run_id = None
        for command in _commands():
            line = command.replace("http://localhost:11434/v1", server.base_url)
            if "RUN_ID" in line:
                assert run_id is not None, "the guide captures a run before running one"
                line = line.replace("RUN_ID", run_id)
            script.append(line)
            done = subprocess.run(
                " && ".join(script),  # each command sees the exports before it
                shell=True,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"$ {line}\nexited {done.returncode}:\n{output}"
            if line.startswith("proctor run "):
                assert "resolved" in output, output
                run_id = _RUN_ID.findall(output)[-1]
            # Earlier commands ran already: only exports are kept for the next ones.
            script = [s for s in script if s.startswith("export ")]
        models = [request.body.get("model") for request in server.requests]
    assert models == ["llama3.1"] * 4  # section 5's run went to the local model
    case = tmp_path / "evals" / "helpdesk" / "ticket-1001.yaml"
    assert "tickets.reply" in case.read_text()
