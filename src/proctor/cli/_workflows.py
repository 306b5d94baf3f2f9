"""Finding a workflow by name: shipped examples, installed plugins, or module:attribute."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from proctor.contracts import load_contract
from proctor.errors import NotFoundError
from proctor.examples import workflows as example_workflows
from proctor.runtime import Workflow

ENTRY_POINT_GROUP = "proctor.workflows"


def known_workflows() -> dict[str, Callable[[], Workflow]]:
    """Workflows by name: shipped examples, then ``proctor.workflows`` entry points."""
    found = dict(example_workflows())
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.load())
    return found


def load_workflow(name: str, *, contract: Path | None = None) -> Workflow:
    """The workflow ``name`` (or ``package.module:attribute``), optionally re-contracted."""
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        # Like `python -m`, find the user's own modules in the working directory.
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise NotFoundError(f"cannot load workflow {name!r}: {exc}") from exc
        workflow = factory() if callable(factory) else factory
        if not isinstance(workflow, Workflow):
            raise NotFoundError(f"{name!r} is not a proctor Workflow (or a function returning one)")
    else:
        known = known_workflows()
        if name not in known:
            raise NotFoundError(
                f"no workflow named {name!r}; known: {', '.join(sorted(known)) or 'none'}. "
                "Use package.module:attribute for your own."
            )
        workflow = known[name]()
    workflow.ref = name
    if contract is not None:
        workflow.contract = load_contract(contract, workflow=workflow.name)
    return workflow
