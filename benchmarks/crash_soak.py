"""The crash harness, longer: workers SIGKILLed at random while they drive queued runs.

Runs tests/support/crash_harness.py's soak on PostgreSQL (a schema of its own, dropped
afterwards; skipped without a server) and on one SQLite file, with more runs and kills
than the test, and prints what it did and found. Exits 1 if any guarantee failed.

    python benchmarks/crash_soak.py [--runs 200] [--workers 3] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.crash_harness import SoakResult, soak

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PROCTOR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES,
        help="server URL (a schema of its own is created in it, and dropped)",
    )
    args = parser.parse_args()
    results: list[SoakResult] = []
    with tempfile.TemporaryDirectory(prefix="proctor-soak-") as tmp:
        schema = f"soak_{uuid.uuid4().hex[:12]}"
        joiner = "&" if "?" in args.postgres else "?"
        try:
            with psycopg.connect(args.postgres, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            print(f"postgresql: skipped, no server ({' '.join(str(exc).split())})")
        else:
            try:
                results.append(
                    await soak(
                        f"{args.postgres}{joiner}schema={schema}",
                        Path(tmp) / "pg-home",
                        runs=args.runs,
                        workers=args.workers,
                        timeout_s=600,
                        seed=args.seed,
                    )
                )
            finally:
                async with await psycopg.AsyncConnection.connect(
                    args.postgres, autocommit=True
                ) as conn:
                    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        results.append(
            await soak(
                str(Path(tmp) / "soak.db"),
                Path(tmp) / "sqlite-home",
                runs=args.runs,
                workers=args.workers,
                timeout_s=600,
                seed=args.seed,
            )
        )
    for result in results:
        print(result.summary())
        for problem in result.problems:
            print(f"  PROBLEM: {problem}")
    return 1 if any(result.problems for result in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
