"""The crash harness: `proctor worker` processes SIGKILLed at random while they drive
invoice runs from the queue, then every run, log and ERP write checked.

Used by tests/runtime/test_crash_harness.py (short) and ``make soak`` (long, through
benchmarks/crash_soak.py). Workers load ``support.crash_harness:paced_invoice``: the
shipped invoice workflow whose tools each take ``$PROCTOR_SOAK_TOOL_DELAY`` seconds
more, so kills land inside runs (a scripted run alone takes milliseconds).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proctor.errors import ProctorError
from proctor.examples import invoice
from proctor.runtime import Workflow, decide_approval, submit
from proctor.store import RunFilter, Store, ToolFinished, open_store, row_to_event, verify_rows
from proctor.tools import Registry, Tool

REF = "support.crash_harness:paced_invoice"
DELAY_ENV = "PROCTOR_SOAK_TOOL_DELAY"
PROCTOR = Path(sys.executable).with_name("proctor")
TESTS = Path(__file__).resolve().parents[1]
PAY = "erp.create_payment"


def _paced(real: Tool, delay: float) -> Tool:
    async def paced(*args: Any, **arguments: Any) -> Any:
        await asyncio.sleep(delay)
        if real._is_async:
            return await real.function(*args, **arguments)
        return await asyncio.to_thread(real.function, *args, **arguments)

    return dataclasses.replace(real, function=paced)


def paced_invoice() -> Workflow:
    """The invoice workflow, each tool ``$PROCTOR_SOAK_TOOL_DELAY`` s (default 0.05) slower."""
    flow = invoice.workflow()
    delay = float(os.environ.get(DELAY_ENV) or 0.05)
    return dataclasses.replace(flow, registry=Registry([_paced(t, delay) for t in flow.registry]))


@dataclass
class SoakResult:
    """What a soak did and found; ``problems`` is empty when every guarantee held."""

    backend: str
    runs: int = 0
    kills: int = 0
    workers_started: int = 0
    approvals: int = 0
    duration_s: float = 0.0
    reclaimed: int = 0
    """Queue claims that took over an expired lease (summed ``attempts``)."""
    events: int = 0
    payments: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        duplicates = sum("twice" in p for p in self.problems)
        return (
            f"{self.backend}: {self.runs} runs in {self.duration_s:.1f} s, {self.kills} kills "
            f"({self.workers_started} workers started), {self.reclaimed} reclaimed leases, "
            f"{self.approvals} approvals, {self.events} events, {self.payments} payments, "
            f"duplicates={duplicates}, problems={len(self.problems)}, outcomes={self.outcomes}"
        )


class Workers:
    """The worker subprocesses, each logging to a file of its own."""

    def __init__(self, env: dict[str, str], logs: Path, lease_s: float, concurrency: int) -> None:
        self.env, self.logs, self.lease_s, self.concurrency = env, logs, lease_s, concurrency
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.started = 0

    def start(self) -> None:
        self.started += 1
        path = self.logs / f"worker-{self.started}.log"
        args = [str(PROCTOR), "worker", "--lease", f"{self.lease_s:g}"]
        args += ["--concurrency", str(self.concurrency), "--grace", "2"]
        with path.open("wb") as log:
            proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((proc, path))

    def kill(self, rng: random.Random) -> None:
        victim, _ = self.procs.pop(rng.randrange(len(self.procs)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    def wait_ready(self, timeout_s: float = 20) -> None:
        """Until every worker printed its first line (it handles SIGTERM from then on)."""
        deadline = time.monotonic() + timeout_s
        for proc, log in self.procs:
            while proc.poll() is None and b"worker " not in log.read_bytes():
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)

    def stop(self) -> list[int]:
        """SIGTERM each worker once it is up (before, Python's default handler kills it)."""
        self.wait_ready()
        for proc, _ in self.procs:
            proc.send_signal(signal.SIGTERM)
        codes = []
        for proc, _ in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        self.procs.clear()
        return codes


async def soak(
    db: str,
    home: Path,
    *,
    runs: int = 40,
    workers: int = 3,
    concurrency: int = 2,
    lease_s: float = 2.0,
    kill_every: tuple[float, float] = (0.4, 1.2),
    max_kills: int | None = None,
    tool_delay: float = 0.05,
    timeout_s: float = 50.0,
    seed: int | None = None,
) -> SoakResult:
    """Queue ``runs`` invoice runs (the demo's scenario mix) in the store at ``db``, drive
    them with ``workers`` worker processes killed at random (each replaced at once),
    approve what waits, and check every guarantee once all runs finished."""
    rng = random.Random(seed)
    backend = "postgresql" if db.startswith("postgres") else "sqlite"
    result = SoakResult(backend=backend, runs=runs)
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        PROCTOR_HOME=str(home),
        PROCTOR_DB=db,
        NO_COLOR="1",
        PROCTOR_WORKFLOWS=REF,  # what workers may load: a queue item only names it
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
        **{DELAY_ENV: str(tool_delay)},
    )
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # `submit` loads the workflow ref here too
    store = open_store(db)
    pool = Workers(env, home, lease_s, concurrency)
    began = time.perf_counter()
    try:
        scenarios = invoice.DEMO_SCENARIOS
        for n in range(runs):
            scenario = scenarios[n % len(scenarios)]
            await submit(
                store,
                REF,
                invoice.sample_input(scenario.input_name),
                model=scenario.model,
                submitted_by="soak:submitter",
            )
        for _ in range(workers):
            pool.start()
        next_kill = time.monotonic() + rng.uniform(*kill_every)
        deadline = time.monotonic() + timeout_s
        while True:
            result.approvals += await _approve_waiting(store)
            finished = await store.list_runs(RunFilter(status="finished", limit=runs + 1))
            if len(finished) == runs:
                break
            if time.monotonic() > deadline:
                result.problems.append(f"only {len(finished)} of {runs} runs finished in time")
                break
            if time.monotonic() >= next_kill and (max_kills is None or result.kills < max_kills):
                pool.kill(rng)
                result.kills += 1
                pool.start()
                next_kill = time.monotonic() + rng.uniform(*kill_every)
            await asyncio.sleep(0.05)
        result.duration_s = time.perf_counter() - began
        codes = pool.stop()
        if any(codes):
            result.problems.append(f"workers stopped by SIGTERM exited {codes}, not 0")
        result.workers_started = pool.started
        await _check(store, home, result)
    finally:
        pool.stop()
        await store.close()
    return result


async def _approve_waiting(store: Store) -> int:
    approved = 0
    for approval in await store.list_approvals("pending"):
        try:
            await decide_approval(
                store, approval.approval_id, approved=True, by="soak:approver", reason="soak"
            )
        except ProctorError:
            continue  # decided or expired meanwhile: the run goes on either way
        approved += 1
    return approved


async def _check(store: Store, home: Path, result: SoakResult) -> None:
    problems = result.problems
    paid_keys: list[str] = []
    outcomes: Counter[str] = Counter()
    for item in await store.queue_items(limit=result.runs + 1):
        result.reclaimed += item.attempts
        run = await store.get_run(item.run_id)
        rows = await store.events(item.run_id)
        result.events += len(rows)
        if run is None or run.status != "finished":
            problems.append(f"run {item.run_id} did not finish")
            continue
        outcomes[run.outcome or "none"] += 1
        if [row.seq for row in rows] != list(range(len(rows))):
            problems.append(f"run {item.run_id}: its event seqs have gaps or repeats")
        report = verify_rows(item.run_id, rows, run)
        if not report.ok:
            problems.append(f"run {item.run_id}: chain broken: {report.problem}")
        events = [row_to_event(row) for row in rows]
        keys = {e.data.call_id: e.data.idempotency_key for e in events if e.type == "tool_started"}  # type: ignore[union-attr]
        finished = Counter[str]()
        for event in events:
            data = event.data
            if isinstance(data, ToolFinished):
                finished[data.call_id] += 1
                if data.tool == PAY and data.ok:
                    paid_keys.append(keys[data.call_id])
        for call_id, count in finished.items():
            if count > 1:
                problems.append(f"run {item.run_id}: call {call_id} finished twice ({count})")
    result.outcomes = dict(sorted(outcomes.items()))
    with closing(sqlite3.connect(home / "example-erp.sqlite")) as erp:
        payments = [key for (key,) in erp.execute("SELECT idempotency_key FROM payments")]
    result.payments = len(payments)
    for key, count in Counter(payments).items():
        if count > 1:
            problems.append(f"idempotency key {key} paid twice in the ERP")
    if sorted(payments) != sorted(paid_keys):
        problems.append(
            f"{len(payments)} ERP payments, but {len(paid_keys)} successful {PAY} results "
            "in the logs: a payment without its record, or a record without its payment"
        )
