"""Loading a large suite with shared fixtures, and replaying it: cases per second.

A suite of N small cases the way a team writes them once fixtures are shared: a
``suite.yaml`` holding the fixtures every case uses (vendors, purchase orders, the
threshold check) and the default expectations (outcome, partial orders, counts), and a
case file per invoice holding only its input, the fixtures that are its own and its
recorded responses. Then ``load_suite`` (parse, validate, compile) is timed on its own,
the first time (no cache of parsed files) and again with the files unchanged, and the
whole of ``proctor eval run --recorded`` in process (load and replay, one core).

    python benchmarks/eval_load.py [--cases 2000] [--runs 3]

Benchmarks print figures; they assert nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

CHECK = {
    "within_tolerance": True,
    "vendor_active": True,
    "po_matches_vendor": True,
    "po_open": True,
    "requires_approval": False,
    "ok_to_pay": True,
    "reasons": [],
}

SUITE = {
    "workflow": "invoice_reconciliation",
    "fixtures": [
        {
            "tool": "erp.lookup_vendor",
            "arguments": {"vendor_id": f"V-{1000 + n}"},
            "result": {"vendor_id": f"V-{1000 + n}", "name": f"Vendor {n}", "status": "active"},
        }
        for n in range(20)
    ]
    + [
        {
            "tool": "policy.check_thresholds",
            "arguments": {},
            "result": CHECK,
        },
    ],
    "expect": {
        "outcome": "resolved",
        "before": [
            {
                "all_of": ["erp.lookup_vendor", "erp.fetch_po", "policy.check_thresholds"],
                "then": "erp.create_payment",
            }
        ],
        "counts": [{"call": "erp.create_payment", "exactly": 1}],
        "policy": {"no_violation": True},
    },
}


def case(n: int) -> dict[str, Any]:
    vendor, po, number = f"V-{1000 + n % 20}", f"PO-{5000 + n}", f"INV-2026-{n:05d}"
    amount = 100.0 + n
    invoice = {
        "vendor_id": vendor,
        "invoice_number": number,
        "po_number": po,
        "amount": amount,
        "currency": "EUR",
    }
    payment = {
        "vendor_id": vendor,
        "po_number": po,
        "invoice_number": number,
        "amount": amount,
        "currency": "EUR",
    }
    check = {"vendor_id": vendor, "po_number": po, "amount": amount}
    return {
        "description": f"Invoice {number}: pay once, after the checks.",
        "input": {"vendor_id": vendor, "invoice_text": f"INVOICE {number} PO {po} {amount}"},
        "fixtures": [
            {"tool": "ocr.parse_invoice", "arguments": {}, "result": invoice},
            {
                "tool": "erp.fetch_po",
                "arguments": {"po_number": po},
                "result": {
                    "po_number": po,
                    "amount": amount,
                    "vendor_id": vendor,
                    "currency": "EUR",
                    "status": "open",
                },
            },
            {
                "tool": "erp.create_payment",
                "arguments": payment,
                "result": {"payment_id": f"PAY-{n:06d}", "amount": amount},
            },
        ],
        "recorded": {
            "model": "scripted:procedure",
            "responses": [
                {"calls": [{"tool": "ocr.parse_invoice", "arguments": {"text": "x"}}]},
                {"calls": [{"tool": "erp.lookup_vendor", "arguments": {"vendor_id": vendor}}]},
                {"calls": [{"tool": "erp.fetch_po", "arguments": {"po_number": po}}]},
                {"calls": [{"tool": "policy.check_thresholds", "arguments": check}]},
                {"calls": [{"tool": "erp.create_payment", "arguments": payment}]},
                {"text": f"Paid invoice {number}."},
            ],
        },
        "expect": {
            "calls": {
                "order": "strict",
                "only": "writes",
                "sequence": [{"tool": "erp.create_payment", "arguments": payment}],
            },
            "final_answer": {"contains": number},
        },
    }


def build(folder: Path, cases: int) -> None:
    folder.mkdir(parents=True)
    dump = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    (folder / "suite.yaml").write_text(yaml.dump(SUITE, Dumper=dump, sort_keys=False))
    for n in range(cases):
        # A copy of each shared value: YAML would write it once and alias it.
        text = yaml.dump(json.loads(json.dumps(case(n))), Dumper=dump, sort_keys=False)
        (folder / f"invoice-{n}.yaml").write_text(text)


async def run_all(folder: Path) -> tuple[float, float, int, int]:
    from proctor.evals import ReplayOptions, load_suite, load_workflow_ref, run_suite

    started = time.perf_counter()
    suite = load_suite(folder)
    loaded = time.perf_counter()
    result = await run_suite(
        suite, loader=load_workflow_ref, options=ReplayOptions(recorded=True, concurrency=8)
    )
    return loaded - started, time.perf_counter() - started, result.passed, len(result.cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from proctor.evals import load_suite

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROCTOR_CACHE_DIR"] = str(Path(tmp) / "cache")
        folder = Path(tmp) / "invoices"
        build(folder, args.cases)
        colds, loads = [], []
        for _ in range(args.runs):
            shutil.rmtree(Path(tmp) / "cache", ignore_errors=True)
            started = time.perf_counter()
            load_suite(folder)  # reads every file, and writes the cache
            colds.append(args.cases / (time.perf_counter() - started))
        for _ in range(args.runs):
            started = time.perf_counter()
            load_suite(folder)
            loads.append(args.cases / (time.perf_counter() - started))
        print(
            f"loading {args.cases} cases with shared fixtures, first time (no cache): "
            f"{statistics.median(colds):,.0f} cases/s p50"
        )
        print(
            f"loading {args.cases} cases with shared fixtures, files unchanged: "
            f"{statistics.median(loads):,.0f} cases/s p50, {max(loads):,.0f} best "
            f"(goal 5,000)"
        )
        totals = []
        for _ in range(args.runs):
            _, total_s, passed, n = asyncio.run(run_all(folder))
            totals.append(n / total_s)
        print(
            f"eval run --recorded end to end (load and replay, one core): "
            f"{statistics.median(totals):,.0f} cases/s p50, {max(totals):,.0f} best "
            f"({passed}/{n} passed; goal 1,000)"
        )


if __name__ == "__main__":
    main()
