"""Page and endpoint times of ``proctor serve`` over a large store.

Builds a SQLite store holding 100,000 runs (their ``runs`` rows, spread over 30 days and
two tenants, with a mix of outcomes, inserted in bulk) and one real run of 200 governed
steps (about 1,000 events, driven by the scripted model as step_overhead.py does). Then
times, in process through the ASGI app (no network; bytes as sent, gzip-compressed), the
runs list (first page, a filtered page), the run page of the 1,000-event run, the JSON
API's equivalents, and the reports. With ``--browser``, also loads the two pages in
Debian's Chromium (Playwright, headless) from a real server on loopback, and prints the
time to the page's load event (navigation start to loadEventEnd). Prints median and p90
per request; asserts nothing.

    python benchmarks/server_pages.py [--runs 100000] [--steps 200] [--repeats 20] [--browser]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import astuple, fields
from pathlib import Path

from fastapi.testclient import TestClient
from step_overhead import workflow

from proctor.runtime import Runner
from proctor.server import create_api_key, create_server
from proctor.store import RunRecord, SQLiteStore

DAY = 86_400.0
OUTCOMES = ["resolved"] * 7 + ["escalated", "draft_only", "failed"]


def bulk_runs(store: SQLiteStore, count: int, now: float) -> None:
    """``count`` finished runs' rows, newest ``now``, in one transaction."""
    rng = random.Random(7)
    columns = [f.name for f in fields(RunRecord)]
    sql = f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    rows = []
    for n in range(count):
        started = now - rng.random() * 30 * DAY
        duration = rng.uniform(0.5, 40.0)
        record = RunRecord(
            run_id=f"run_{n:016x}",
            workflow=rng.choice(["invoice_reconciliation", "support_triage"]),
            model=rng.choice(["scripted", "openai:gpt-4o-mini", "openai:gpt-4o"]),
            contract_name="invoice_reconciliation",
            contract_hash="c" * 64,
            trace_id="t" * 32,
            started_at=started,
            updated_at=started + duration,
            finished_at=started + duration,
            status="finished",
            outcome=rng.choice(OUTCOMES),  # type: ignore[arg-type]
            tool_calls=rng.randint(1, 9),
            model_calls=rng.randint(2, 10),
            input_tokens=rng.randint(500, 5000),
            output_tokens=rng.randint(50, 500),
            cost_usd=rng.uniform(0.0005, 0.02),
            duration_s=duration,
            last_seq=12,
            head_hash="h" * 64,
            tenant="default" if n % 10 else "other",
            started_by="alice",
        )
        rows.append(astuple(record))
    db = store._db
    db.execute("BEGIN")
    db.executemany(sql, rows)
    db.execute("COMMIT")


def timed(client: TestClient, url: str, repeats: int) -> tuple[float, float, int]:
    samples = []
    size = 0
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        size = int(response.headers.get("content-length", len(response.content)))
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1], size


async def prepare(db: Path, runs: int, steps: int) -> tuple[str, str, int]:
    store = SQLiteStore(db)
    try:
        bulk_runs(store, runs, time.time() - 60)
        result = await Runner(store, workflow("kv.get", steps, False)).start({"n": steps})
        events = len(await store.events(result.run_id))
        _, key = await create_api_key(store, role="admin", tenant="default", name="bench")
        return result.run_id, key, events
    finally:
        await store.close()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_loads(store: SQLiteStore, key: str, run_id: str, repeats: int) -> None:
    """Page load times in Chromium, navigation start to the load event."""
    from playwright.sync_api import sync_playwright

    from proctor.server import server_thread

    app = create_server(store, session_secret="benchmark-session-secret-0123456789abcdef")
    with server_thread(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/login")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/runs")
        for name, path in (
            ("runs list (100,000 runs)", "/runs"),
            ("run page (1,000 events)", f"/runs/{run_id}"),
        ):
            samples = []
            for _ in range(repeats):
                page.goto(f"{base}{path}", wait_until="load")
                samples.append(
                    page.evaluate(
                        "() => { const t = performance.getEntriesByType('navigation')[0];"
                        " return t.loadEventEnd - t.startTime; }"
                    )
                )
            samples.sort()
            p90 = samples[int(len(samples) * 0.9) - 1]
            print(f"Chromium load, {name:<26} {statistics.median(samples):8.1f} {p90:8.1f}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="Also time page loads in Chromium.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "proctor.db"
        started = time.perf_counter()
        run_id, key, events = asyncio.run(prepare(db, args.runs, args.steps))
        print(
            f"store: {args.runs:,} runs + one run of {events:,} events "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )
        store = SQLiteStore(db)
        app = create_server(
            store,
            session_secret="benchmark-session-secret-0123456789abcdef",
            allowed_hosts=["testserver"],
        )
        with TestClient(app, base_url="https://testserver") as client:
            client.post("/login", data={"key": key}, headers={"origin": "https://testserver"})
            pages = {
                "UI runs list, first page": "/runs",
                "UI runs list, outcome=escalated": "/runs?outcome=escalated",
                "UI run page, 1,000 events": f"/runs/{run_id}",
                "UI reports, 7 days": "/reports?since=7d",
                "API runs, first page (50)": "/api/v1/runs",
                "API runs, model filter": "/api/v1/runs?model=openai:gpt-4o",
                "API run events (1,000)": f"/api/v1/runs/{run_id}/events?limit=1000",
                "API reports, 7 days by day": "/api/v1/reports?since=7d",
                "API reports, 30 days by model": "/api/v1/reports?since=30d&group_by=model",
            }
            print(f"{'request':<36} {'p50 ms':>8} {'p90 ms':>8} {'wire bytes':>10}")
            for name, url in pages.items():
                p50, p90, size = timed(client, url, args.repeats)
                print(f"{name:<36} {p50:8.1f} {p90:8.1f} {size:10,}")
        if args.browser:
            browser_loads(store, key, run_id, args.repeats)
        asyncio.run(store.close())


if __name__ == "__main__":
    main()
