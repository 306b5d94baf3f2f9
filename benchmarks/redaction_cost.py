"""What redaction costs per event, as the journal calls it (the default detectors).

Typical event contents of a governed step (nothing to find), then contents with text
that makes the detectors look closer (a date), and with values to replace. "new" is an
event seen for the first time; "repeated" one whose content was seen before.

    python benchmarks/redaction_cost.py [--number 20000]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from typing import Any

from proctor.contracts import Redaction
from proctor.policy import Redactor

EVENTS: dict[str, dict[str, Any]] = {
    "model_called (a tool call)": {
        "text": None,
        "tool_calls": [
            {"id": "call_3_0", "name": "kv.get", "arguments": {"key": "k3"}, "raw_arguments": None}
        ],
    },
    "tool_proposed": {"arguments": {"key": "k3"}, "raw_arguments": None},
    "tool_finished": {"result": {"key": "k3", "value": 42, "version": 1}, "error": None},
    "policy_decided reason": {"reason": "allowed by the contract"},
    "model_called (an answer)": {
        "text": "The invoice from Acme Supplies GmbH matches its purchase order; paid it.",
        "tool_calls": [],
    },
    "tool_finished (dates, ids)": {
        "result": {
            "vendor_id": "V-1001",
            "name": "Acme Supplies GmbH",
            "po_number": "PO-4711",
            "amount": 4180.0,
            "date": "2026-03-02",
        },
        "error": None,
    },
    "tool_finished (e-mail, card, phone)": {
        "result": {
            "email": "jane.doe@example.com",
            "card": "4111 1111 1111 1111",
            "note": "call +1 415-555-2671 after 5pm",
        },
        "error": None,
    },
}


def _tag(i: int) -> str:
    """A distinct value without digits (digits would make the number gate look closer)."""
    return "".join(chr(97 + (i // 26**k) % 26) for k in range(4))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    redactor = Redactor(Redaction(presidio="off"))
    print(f"{'event content':38} {'new':>9} {'repeated':>9}  (µs per event)")
    for label, content in EVENTS.items():
        # Each event is new (a distinct field), as in a run; repeated ones hit a small cache.
        fresh = [{**content, "tag": _tag(i)} for i in range(args.number)]
        new = timeit.Timer(lambda: [redactor(c) for c in fresh])  # noqa: B023 (timed at once)
        repeated = timeit.Timer(lambda: redactor(content))  # noqa: B023
        cold = statistics.median(new.repeat(5, 1)) / args.number * 1e6
        warm = statistics.median(repeated.repeat(5, args.number)) / args.number * 1e6
        print(f"{label:38} {cold:9.2f} {warm:9.2f}")


if __name__ == "__main__":
    main()
