"""Helpers for the eval tests: real runs of the invoice example, captured into cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proctor.evals import (
    Case,
    ObservedCall,
    ReplayOptions,
    SuiteResult,
    capture_case,
    case_yaml,
    load_case,
    load_suite,
    load_workflow_ref,
    run_suite,
)
from proctor.examples import invoice
from proctor.runtime import Runner
from proctor.store import Store

SHIPPED_SUITE = Path(invoice.__file__).parent / "evals"


async def record(store: Store, sample: str, model: str = "scripted:procedure") -> str:
    """Run the invoice example on a sample input for real; returns the run id."""
    result = await Runner(store, invoice.workflow()).start(
        invoice.sample_input(sample), model=model
    )
    return result.run_id


async def capture_to(
    store: Store, folder: Path, sample: str, model: str = "scripted:procedure", name: str = ""
) -> Path:
    """Record a run and capture it into ``folder/<name>.yaml``."""
    run_id = await record(store, sample, model)
    document = await capture_case(store, run_id, workflow=invoice.workflow())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or sample}.yaml"
    path.write_text(case_yaml(document, run_id=run_id), encoding="utf-8")
    return path


async def replay(path: Path, **options: Any) -> SuiteResult:
    return await run_suite(
        load_suite(path), loader=load_workflow_ref, options=ReplayOptions(**options)
    )


def case(text: str, name: str = "case") -> Case:
    """A case from YAML text (the workflow defaults to the invoice example)."""
    if "workflow:" not in text:
        text = "workflow: invoice_reconciliation\n" + text
    return load_case(f"{name}.yaml", text=text)


def calls(*specs: str | tuple[Any, ...]) -> list[ObservedCall]:
    """Observed calls from tool names, (tool, arguments) or (tool, arguments, status)."""
    made = []
    for step, spec in enumerate(specs):
        tool, arguments, status = (spec, {}, "ok") if isinstance(spec, str) else (*spec, "ok")[:3]
        made.append(ObservedCall(step=step, tool=tool, arguments=arguments, status=status))
    return made
