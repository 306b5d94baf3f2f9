"""The deployment files cannot rot: ``deploy/compose.yaml``'s Proctor services run here as
local processes, with the very commands and environment the file gives them, and the
Dockerfile is checked statically (no Docker engine runs on the machines that test this).

The mapping from the compose stack to this machine is the only thing added:

- the variables compose interpolates (``${PROCTOR_DB:-...}``, the secrets) are set to the
  local PostgreSQL (a schema of the test's own), the local Redis and made-up secrets;
- ``--host``/``--health-host 0.0.0.0`` bind loopback, and each port a command binds
  becomes a free local port (``PROCTOR_HEALTH_URL`` follows it);
- a volume's container path, where an environment value names it, becomes a local folder
  (the named home volume) or the file it mounts (``./gateway.yaml``).

Readiness is waited for at each service's ``PROCTOR_HEALTH_URL``, then asked once more as
the image asks it: with the Dockerfile's ``HEALTHCHECK`` command.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.examples import invoice
from proctor.server import create_api_key
from proctor.store import open_store
from support.fake_openai import FakeOpenAIServer
from support.fake_replies import Completion
from support.redis_server import REDIS_URL
from support.stores import drop_schema, new_schema_url

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PROCTOR = Path(sys.executable).with_name("proctor")

OURS = ("migrate", "server", "worker", "gateway")
"""The services that run the Proctor image."""
LONG_RUNNING = ("server", "worker", "gateway")
PORT_OPTIONS = ("--port", "--health-port", "--metrics-port")
HOST_OPTIONS = ("--host", "--health-host", "--metrics-host")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """What compose makes of ``text``: ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``${VAR?error}``, and ``$$`` for a dollar."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        empty = value is None or (value == "" and operator is not None and ":" in operator)
        if operator in ("-", ":-") and (value is None if operator == "-" else empty):
            return argument
        if operator in ("?", ":?") and (value is None if operator == "?" else empty):
            raise AssertionError(f"compose would refuse: {name}: {argument}")
        return value or ""

    return _VARIABLE.sub(one, text)


# Static checks of compose.yaml --------------------------------------------------------------


def test_the_stack_has_its_services_started_in_order() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", *OURS}
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    for name in OURS:
        service = services[name]
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}, name
        assert (COMPOSE.parent / service["build"]["context"] / "Dockerfile").is_file()
    for name in LONG_RUNNING:
        migrated = services[name]["depends_on"]["migrate"]
        assert migrated == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["gateway"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "--enqueue" in services["server"]["command"]  # the API only queues runs


def test_secrets_come_from_the_environment_only() -> None:
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SIGNING_KEY|GATEWAY_KEY|API_KEY", key):
                text = str(value)
                assert text.startswith("${"), (name, key, text)
                assert text.endswith("}"), (name, key, text)


def test_each_healthcheck_asks_the_port_its_command_binds() -> None:
    services = compose()["services"]
    for name in LONG_RUNNING:
        command = services[name]["command"]
        bound = {
            command[i + 1] for i, arg in enumerate(command) if arg in ("--port", "--health-port")
        }
        url = services[name]["environment"]["PROCTOR_HEALTH_URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:(\d+)/readyz", url), (name, url)
        assert url.split(":")[2].split("/")[0] in bound, (name, url, bound)


# Static checks of the Dockerfile ------------------------------------------------------------


@dataclass
class Stage:
    name: str | None
    base: str
    lines: list[str]


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's instructions (continuations joined, comments dropped) by stage."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or (line.upper().startswith("ARG ") and not stages):
            continue
        words = line.split()
        if words[0].upper() == "FROM":
            name = words[3] if len(words) >= 4 and words[2].upper() == "AS" else None
            stages.append(Stage(name=name, base=words[1], lines=[]))
        else:
            stages[-1].lines.append(line)
    return stages


def instructions(stage: Stage, keyword: str) -> list[str]:
    return [
        line[len(keyword) :].strip()
        for line in stage.lines
        if line.upper().startswith(f"{keyword} ")
    ]


def test_the_image_is_multi_stage_and_runs_as_nobody_in_particular() -> None:
    stages = dockerfile_stages()
    assert [stage.name for stage in stages] == ["builder", "runtime"]  # every stage named
    builder, runtime = stages
    assert any("uv build --wheel" in line for line in instructions(builder, "RUN"))
    # The runtime takes the built environment and nothing else from the builder ...
    assert instructions(runtime, "COPY") == ["--from=builder /opt/proctor /opt/proctor"]
    # ... installs nothing (no compiler, no uv, no pip) ...
    for line in instructions(runtime, "RUN"):
        assert not re.search(r"\b(apt-get|apk|uv|pip install|gcc|build-essential)\b", line), line
    # ... and runs as an unprivileged user, numeric so runAsNonRoot can tell.
    [user] = instructions(runtime, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), user
    assert int(uid) != 0
    assert json.loads(instructions(runtime, "ENTRYPOINT")[0]) == ["proctor"]
    assert instructions(runtime, "HEALTHCHECK")


def test_what_the_builder_copies_exists_and_is_in_the_build_context() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    admitted = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore  # everything not named is left out (.venv, stores, keys)
    copied: list[str] = []
    for stage in dockerfile_stages():
        for line in instructions(stage, "COPY"):
            words = [w for w in line.split() if not w.startswith("--")]
            if "--from=" in line:
                continue
            copied.extend(words[:-1])
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in admitted, f"{source} is not in the build context"


def lint_tool(name: str) -> str:
    found = shutil.which(name, path=str(PROCTOR.parent)) or shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (the dev extra's {name} wheel)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_hadolint_and_shellcheck_find_nothing() -> None:
    hadolint = subprocess.run(
        [lint_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert hadolint.returncode == 0, hadolint.stdout + hadolint.stderr
    shellcheck = subprocess.run(
        [lint_tool("shellcheck"), str(DEPLOY / "smoke.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shellcheck.returncode == 0, shellcheck.stdout + shellcheck.stderr


# The services' commands, run here -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Local:
    """A service of the compose file as a local process: its argv and environment."""

    name: str
    argv: list[str]
    env: dict[str, str]


def localise(name: str, host_env: Mapping[str, str], home: Path, ports: dict[str, int]) -> Local:
    """The service ``name`` of compose.yaml as a local process (see the module docstring)."""
    service = compose()["services"][name]
    command = [interpolate(str(arg), host_env) for arg in service["command"]]
    for i, arg in enumerate(command[:-1]):
        if arg in HOST_OPTIONS and command[i + 1] == "0.0.0.0":
            command[i + 1] = "127.0.0.1"
        if arg in PORT_OPTIONS:
            ports.setdefault(command[i + 1], free_port())
            command[i + 1] = str(ports[command[i + 1]])
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (COMPOSE.parent / source).resolve()
        else:
            mounts[target] = home  # the named volume of the Proctor home
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROCTOR_", "OPENAI_"))}
    env["NO_COLOR"] = "1"
    for key, value in (service.get("environment") or {}).items():
        text = interpolate(str(value), host_env)
        for target, local in mounts.items():
            if text == target or text.startswith(f"{target}/"):
                text = str(local) + text[len(target) :]
        for inside, outside in ports.items():
            text = text.replace(f"127.0.0.1:{inside}/", f"127.0.0.1:{outside}/")
        env[key] = text
    return Local(name=name, argv=[str(PROCTOR), *command], env=env)


def healthcheck_argv() -> list[str]:
    """The image's HEALTHCHECK command, with this interpreter as its ``python``."""
    [runtime] = [stage for stage in dockerfile_stages() if stage.name == "runtime"]
    [check] = instructions(runtime, "HEALTHCHECK")
    argv: list[str] = json.loads(check[check.index("CMD ") + 4 :])
    assert argv[0] == "python", argv
    return [sys.executable, *argv[1:]]


def healthcheck_passes(local: Local) -> bool:
    """Whether the image's HEALTHCHECK command succeeds in the service's environment."""
    probe = subprocess.run(healthcheck_argv(), env=local.env, capture_output=True, check=False)
    return probe.returncode == 0


def answers_ready(local: Local) -> bool:
    """The same question asked from here (no interpreter to start while others start)."""
    try:
        with urllib.request.urlopen(local.env["PROCTOR_HEALTH_URL"], timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.fixture
def upstream() -> Iterator[FakeOpenAIServer]:
    """The gateway's OpenAI-compatible upstream ($OPENAI_BASE_URL)."""
    with FakeOpenAIServer(default=Completion(text="paid")) as server:
        yield server


@pytest.fixture
def host_env(postgres_server: str, upstream: FakeOpenAIServer) -> Iterator[dict[str, str]]:
    """The variables compose interpolates, pointed at this machine's services."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = f"Redis is not reachable at {REDIS_URL} ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        client.close()
    schema, url = new_schema_url(postgres_server)
    yield {
        "PROCTOR_DB": url,
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "PROCTOR_SIGNING_KEY": secrets.token_hex(32),
        "PROCTOR_GATEWAY_KEY": f"sk-{secrets.token_hex(8)}",
        "PROCTOR_REDIS_URL": REDIS_URL,
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": f"sk-upstream-{secrets.token_hex(4)}",
    }
    asyncio.run(drop_schema(postgres_server, schema))


async def operator_key(location: str) -> str:
    store = open_store(location)
    try:
        _, key = await create_api_key(store, role="operator", tenant="default", name="smoke")
    finally:
        await store.close()
    return key


def gateway_request(url: str, host_env: Mapping[str, str], body: Any) -> urllib.request.Request:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {host_env['PROCTOR_GATEWAY_KEY']}")
    request.add_header("Content-Type", "application/json")
    return request


def api(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read())


def test_the_stack_runs_a_queued_run_to_its_end(
    host_env: dict[str, str], upstream: FakeOpenAIServer, tmp_path: Path
) -> None:
    home = tmp_path / "proctor-home"
    ports: dict[str, int] = {}
    services = {name: localise(name, host_env, home, ports) for name in OURS}

    migrated = subprocess.run(
        services["migrate"].argv, env=services["migrate"].env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    running: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in LONG_RUNNING:
            local = services[name]
            running[name] = subprocess.Popen(
                local.argv,
                env=local.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        # An operator's key, minted here while the services start (smoke.sh mints it with
        # `proctor keys create` in the server's container: a process is slow to spare here).
        key = asyncio.run(operator_key(host_env["PROCTOR_DB"]))

        deadline = time.monotonic() + 60  # generous: a loaded CI host
        waiting = set(LONG_RUNNING)
        while waiting:
            for name in sorted(waiting):
                if running[name].poll() is not None:
                    pytest.fail(f"{name} exited:\n{output(running[name])}")
                if answers_ready(services[name]):
                    waiting.discard(name)
            assert time.monotonic() < deadline, f"not ready: {waiting}"
            time.sleep(0.1)
        for name in LONG_RUNNING:  # as the container engine asks it
            assert healthcheck_passes(services[name]), name

        base = f"http://127.0.0.1:{ports['8700']}"
        body = {"workflow": "invoice_reconciliation", "input": invoice.sample_input("clean")}
        status, queued = api("POST", f"{base}/api/v1/runs", key, body)
        assert (status, queued["status"]) == (202, "queued")
        run_id = queued["run_id"]
        while True:
            _, run = api("GET", f"{base}/api/v1/runs/{run_id}", key)
            if run["status"] == "finished":
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.1)
        assert run["outcome"] == "resolved"
        assert run["started_by"] == "smoke"

        # The gateway: the key clients send comes from the environment, the upstream too,
        # and its response cache is Redis ($PROCTOR_REDIS_URL): the second call is a hit.
        gateway = f"http://127.0.0.1:{ports['8787']}/v1/chat/completions"
        chat = {"model": "default", "messages": [{"role": "user", "content": secrets.token_hex(8)}]}
        answers = [
            urllib.request.urlopen(gateway_request(gateway, host_env, chat), timeout=10)
            for _ in range(2)
        ]
        assert [a.status for a in answers] == [200, 200]
        assert [a.headers["x-proctor-cache"] for a in answers] == ["miss", "hit"]
        assert json.loads(answers[0].read())["choices"][0]["message"]["content"] == "paid"
        [called] = upstream.requests
        assert called.body["model"] == "gpt-4o-mini"
        assert called.headers["authorization"] == f"Bearer {host_env['OPENAI_API_KEY']}"
    finally:
        for process in running.values():
            process.terminate()
        outputs = {name: output(process) for name, process in running.items()}
    assert running["worker"].returncode == 0, outputs["worker"]  # SIGTERM: a clean stop


def output(process: subprocess.Popen[str]) -> str:
    """What the process printed, once it has exited (one SIGTERM: a second one, after its
    handler is gone, would kill it)."""
    out, _ = process.communicate(timeout=30)
    return out


def test_interpolation_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$$", env) == "x-d-e--$"
    with pytest.raises(AssertionError, match="compose would refuse: EMPTY: say so"):
        interpolate("${EMPTY:?say so}", env)
