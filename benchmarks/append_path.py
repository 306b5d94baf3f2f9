"""The runtime's append path against raw SQLite on the same rows, in one process.

Each round runs every contender once, in a rotating order, on a store file of its own
(same schema, WAL, ``synchronous=NORMAL``), writing the same governed steps: the five
events a step records (``model_called``, ``tool_proposed``, ``policy_decided``,
``tool_started``, ``tool_finished``, about 300-650 bytes each):

- **raw sqlite3**: ``executemany`` of the rows' final column values (hashed, encoded
  JSON), ``--batch`` rows a transaction: the floor any store on SQLite pays;
- **store.append**: the same rows as ``EventRow`` objects, sealed before the clock;
- **RunJournal.append**: what the runtime pays, from typed event data: split into
  metadata and content, redaction (the default detectors), the content digest and
  RFC 8785 chain hash (keyed, as the runtime's chain is: a MAC per commit), the row, the
  ``Event`` the run folds, the write; ``--batch`` events an append, and one.

Prints each contender's median events/s over the rounds, and the medians of the per-round
ratios to raw SQLite (a ratio within one round is steadier than a ratio of medians on a
noisy host). Asserts nothing about time.

    python benchmarks/append_path.py [--events 5000] [--batch 50] [--rounds 7] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proctor.policy import Redactor
from proctor.store import (
    EventData,
    EventRow,
    ModelCalled,
    PolicyDecided,
    RecordedToolCall,
    RunJournal,
    SQLiteStore,
    ToolFinished,
    ToolProposed,
    ToolStarted,
    Usage,
)
from proctor.store._evidence import EvidenceKeys, LocalSigner
from proctor.store._rows import event_params
from proctor.store._sql_runs import INSERT_EVENT


def step(n: int) -> list[EventData]:
    """The events of one governed step (a model turn proposing one tool call)."""
    call = f"call_{n}"
    arguments = {"po_number": f"PO-{n:05d}", "include_lines": True}
    return [
        ModelCalled(
            model="openai:gpt-4o-mini",
            turn=n,
            messages_digest="m" * 64,
            usage=Usage(input_tokens=1200 + n, output_tokens=80),
            cost_usd=0.00023,
            latency_ms=812.5,
            tool_call_count=1,
            tool_calls=[RecordedToolCall(id=call, name="erp.fetch_po", arguments=arguments)],
            text="Looking up the purchase order before matching the invoice lines.",
        ),
        ToolProposed(
            call_id=call, step=n, tool="erp.fetch_po", args_digest="a" * 64, arguments=arguments
        ),
        PolicyDecided(
            call_id=call, tool="erp.fetch_po", decision="allow", rule="default", reason="allowed"
        ),
        ToolStarted(call_id=call, tool="erp.fetch_po", idempotency_key=f"run:{call}"),
        ToolFinished(
            call_id=call,
            tool="erp.fetch_po",
            ok=True,
            latency_ms=41.25,
            result={"po": f"PO-{n:05d}", "vendor": "Acme GmbH", "total": 1250.5, "lines": 3},
        ),
    ]


def events(count: int) -> list[EventData]:
    out: list[EventData] = []
    n = 0
    while len(out) < count:
        out.extend(step(n))
        n += 1
    return out[:count]


class Contenders:
    """The stores of one benchmark run (a fresh run id per round and contender)."""

    def __init__(
        self, folder: Path, data: list[EventData], batch: int, *, shipped: bool = False
    ) -> None:
        self.folder = folder
        self.shipped = shipped
        self.data = data
        self.batch = batch
        redactor = Redactor()
        self.redact = redactor if redactor.enabled else None
        self.redact_name = redactor.name if redactor.enabled else None
        self.keys = EvidenceKeys.build(
            secret=secrets.token_bytes(32), signer=LocalSigner(Ed25519PrivateKey.generate())
        )
        self.stores: dict[str, SQLiteStore] = {}
        self.raw: sqlite3.Connection | None = None
        self.round = 0

    def store(self, name: str) -> SQLiteStore:
        if name not in self.stores:
            # Like raw SQLite, checkpoints inside commits (SQLite's own), unless the stores
            # are measured as shipped (--shipped: a thread of their own checkpoints).
            path = self.folder / f"{name}.db"
            self.stores[name] = (
                SQLiteStore(path) if self.shipped else SQLiteStore(path, checkpoints=None)
            )
        return self.stores[name]

    def journal(self, store: SQLiteStore, run_id: str) -> RunJournal:
        return RunJournal(
            store,
            run_id=run_id,
            trace_id="t" * 32,
            root_span_id="r" * 16,
            redact=self.redact,
            redact_name=self.redact_name,
            keys=self.keys,
        )

    def sealed(self, run_id: str) -> list[EventRow]:
        """The rows the journal writes for ``data``, built (and hashed) ahead of time."""
        journal = self.journal(self.store("scratch"), run_id)
        rows: list[EventRow] = []
        for first in range(0, len(self.data), self.batch):
            journal.seal(self.data[first : first + self.batch])
            rows.extend(journal.close())
        return rows

    def raw_db(self) -> sqlite3.Connection:
        if self.raw is None:
            path = self.folder / "raw.db"
            SQLiteStore(path, checkpoints=None)  # the schema; then a bare connection
            self.raw = sqlite3.connect(path, isolation_level=None)
            self.raw.execute("PRAGMA journal_mode=WAL")
            self.raw.execute("PRAGMA synchronous=NORMAL")
            self.raw.execute("PRAGMA secure_delete=ON")
        return self.raw

    async def raw_sqlite(self, run_id: str, batch: int) -> float:
        params = [event_params(row) for row in self.sealed(run_id)]
        db = self.raw_db()
        started = time.perf_counter()
        for first in range(0, len(params), batch):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(INSERT_EVENT, params[first : first + batch])
            db.execute("COMMIT")
        return len(params) / (time.perf_counter() - started)

    async def store_append(self, run_id: str) -> float:
        rows = self.sealed(run_id)
        store = self.store("store")
        started = time.perf_counter()
        for first in range(0, len(rows), self.batch):
            await store.append(rows[first : first + self.batch])
        return len(rows) / (time.perf_counter() - started)

    async def journal_append(self, run_id: str, batch: int) -> float:
        journal = self.journal(self.store(f"journal{batch}"), run_id)
        data = self.data
        started = time.perf_counter()
        for first in range(0, len(data), batch):
            await journal.append(data[first : first + batch])
        return len(data) / (time.perf_counter() - started)

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()
        if self.raw is not None:
            self.raw.close()


async def run(args: argparse.Namespace) -> None:
    data = events(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Contenders(Path(tmp), data, args.batch, shipped=args.shipped)
        batch = args.batch
        # name: (the contender, the raw SQLite contender it is compared with)
        contenders: dict[str, tuple[Callable[[str], Awaitable[float]], str]] = {
            f"raw sqlite3 executemany, {batch}/tx": (lambda r: bench.raw_sqlite(r, batch), ""),
            "raw sqlite3 execute, 1/tx": (lambda r: bench.raw_sqlite(r, 1), ""),
            f"store.append, {batch} events/append": (bench.store_append, f"{batch}/tx"),
            f"RunJournal.append, {batch} events/append": (
                lambda r: bench.journal_append(r, batch),
                f"{batch}/tx",
            ),
            "RunJournal.append, 1 event/append": (lambda r: bench.journal_append(r, 1), "1/tx"),
        }
        names = list(contenders)
        versus = {
            name: next((n for n in names if against and n.endswith(against)), name)
            for name, (_, against) in contenders.items()
        }
        rates: dict[str, list[float]] = {name: [] for name in names}
        ratios: dict[str, list[float]] = {name: [] for name in names}
        try:
            for number, name in enumerate(names):  # warm-up: imports, caches, files
                await contenders[name][0](f"warm-{number}")
            for index in range(args.rounds):
                shift = index % len(names)
                got = {}
                for name in names[shift:] + names[:shift]:
                    got[name] = await contenders[name][0](f"r{index}-{names.index(name)}")
                for name in names:
                    rates[name].append(got[name])
                    ratios[name].append(got[versus[name]] / got[name])
        finally:
            await bench.close()
    mode = "stores as shipped" if args.shipped else "every contender checkpoints in commits"
    print(
        f"append path ({mode}): "
        f"{args.events:,} events a contender a round, {args.rounds} rounds "
        "(orders rotated); median events/s, and the median of the rounds' ratios "
        "(raw SQLite's rate / the contender's: 1.00x is raw SQLite's speed)"
    )
    for name in names:
        against = "" if versus[name] == name else f"{statistics.median(ratios[name]):5.2f}x raw"
        print(
            f"  {name:40}: {statistics.median(rates[name]):9,.0f} events/s "
            f"(min {min(rates[name]):9,.0f}, max {max(rates[name]):9,.0f})  {against}"
        )


def profile(args: argparse.Namespace) -> None:
    """cProfile of ``RunJournal.append`` (batched) alone, the top functions by own time."""

    async def go() -> None:
        data = events(args.events)
        with tempfile.TemporaryDirectory() as tmp:
            bench = Contenders(Path(tmp), data, args.batch)
            try:
                await bench.journal_append("warm", args.batch)
                profiler = cProfile.Profile()
                profiler.enable()
                for index in range(args.rounds):
                    await bench.journal_append(f"p{index}", args.batch)
                profiler.disable()
            finally:
                await bench.close()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the journal instead")
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="stores checkpoint from their thread (raw SQLite still inside its commits)",
    )
    args = parser.parse_args()
    if args.profile:
        profile(args)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
