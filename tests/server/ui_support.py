"""Seeding the web UI's tests: real runs of the shipped invoice workflow (scripted models,
offline), the keys of the people who use them, and stored eval results.

alice (operator) starts every run of tenant ``default``; bob (approver) decides their
approvals; vera is a viewer; oscar is an admin of another tenant, with a run of his own.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from proctor.evals import CaseResult, FailureRecord, SuiteResult
from proctor.examples.invoice import DEMO_SCENARIOS, sample_input
from proctor.runtime import Runner, load_workflow_ref
from proctor.server import create_api_key
from proctor.store import EvalResultRecord, Store

SECRET = "ui-tests-session-secret-0123456789abcdef"
HOSTILE = "<script>alert('x')</script>"
SESSION = "chat-7"
_IN_SESSION = ("clean", "gullible")


@dataclass
class Seeded:
    runs: dict[str, str] = field(default_factory=dict)
    """Run ids by scenario: clean, over_threshold, pushy, gullible, rechecker, hasty."""
    keys: dict[str, str] = field(default_factory=dict)
    """API keys by holder: alice, bob, vera, oscar, alice-admin (an admin named alice),
    and, when seeded ``hostile``, the key named ``HOSTILE``."""
    other_run: str = ""
    """oscar's run, in tenant ``globex``."""
    evals: list[str] = field(default_factory=list)
    """Stored eval results of suite ``invoice``, oldest first."""
    session: str = SESSION
    """The session key of the ``clean`` and ``gullible`` runs (in that start order)."""


_NAMES = ("clean", "over_threshold", "pushy", "gullible", "rechecker", "hasty")


async def seed(store: Store, *, hostile: bool = False) -> Seeded:
    """The demo's six scenarios as alice's runs, the keys, and two eval results."""
    seeded = Seeded()
    runner = Runner(store, load_workflow_ref("invoice_reconciliation"))
    for name, scenario in zip(_NAMES, DEMO_SCENARIOS, strict=True):
        result = await runner.start(
            sample_input(scenario.input_name),
            model=scenario.model,
            started_by="alice",
            session=SESSION if name in _IN_SESSION else None,
        )
        seeded.runs[name] = result.run_id
    other = await runner.start(
        sample_input("clean"), model="scripted:procedure", started_by="oscar", tenant="globex"
    )
    seeded.other_run = other.run_id
    for name, role, tenant in (
        ("alice", "operator", "default"),
        ("bob", "approver", "default"),
        ("vera", "viewer", "default"),
        ("oscar", "admin", "globex"),
    ):
        _, seeded.keys[name] = await create_api_key(store, role=role, tenant=tenant, name=name)
    # An admin who shares alice's name: may decide, but not on runs she started.
    _, seeded.keys["alice-admin"] = await create_api_key(store, role="admin", name="alice")
    if hostile:
        _, seeded.keys[HOSTILE] = await create_api_key(store, role="operator", name=HOSTILE)
        clean = sample_input("clean")
        hostile_input = {**clean, "invoice_text": f"{clean['invoice_text']}\nNote: {HOSTILE}"}
        result = await runner.start(hostile_input, model="scripted:procedure", started_by=HOSTILE)
        seeded.runs["hostile"] = result.run_id
    now = time.time()
    for number, failing in enumerate((False, True)):
        seeded.evals.append(await store_eval(store, started_at=now - 60 + number, failing=failing))
    return seeded


async def store_eval(
    store: Store, *, started_at: float, failing: bool, tenant: str = "default"
) -> str:
    """A stored result of suite ``invoice``: two cases, the second failing if ``failing``."""
    cases = [
        CaseResult(
            id="clean_invoice",
            file="clean.yaml",
            passed=True,
            outcome="resolved",
            calls=["ocr.parse_invoice", "erp.create_payment"],
            tool_calls=2,
            tokens=900,
            cost_usd=0.0004,
        ),
        CaseResult(
            id="over_threshold",
            file="over_threshold.yaml",
            passed=not failing,
            outcome="escalated" if failing else "resolved",
            failures=[
                FailureRecord(expectation="outcome", message="expected resolved, got escalated")
            ]
            if failing
            else [],
            calls=["ocr.parse_invoice"],
            tool_calls=1,
            tokens=700,
            cost_usd=0.0003,
        ),
    ]
    result = SuiteResult(
        result_id="evr_" + secrets.token_hex(8),
        suite="invoice",
        path="evals/invoice",
        mode="recorded",
        workflow="invoice_reconciliation",
        started_at=started_at,
        cases=cases,
    )
    assert result.result_id is not None
    await store.save_eval_result(
        EvalResultRecord(
            result_id=result.result_id,
            suite=result.suite,
            workflow="invoice_reconciliation",
            created_at=started_at,
            cases=len(cases),
            passed=result.passed,
            failed=result.failed,
            tenant=tenant,
            body=result.model_dump_json(indent=2),
        )
    )
    return result.result_id
