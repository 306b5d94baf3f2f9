"""Finding a workflow from the CLI: the one a person types, or the one a stored run names.

A person may type ``package.module:attribute`` (it is imported, like ``python -m``). A
ref read back from the store (resume, approve, capture) is only looked up in the
catalog of registered and configured workflows: a database row never loads code.
Commands import this module in their bodies: it loads the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from proctor.cli._context import options
from proctor.contracts import load_contract
from proctor.runtime import (
    Runner,
    UnknownWorkflow,
    Workflow,
    WorkflowCatalog,
    load_workflow_ref,
    project_runner,
)
from proctor.store import Store


def known_workflows() -> dict[str, Callable[[], Workflow]]:
    """The workflows this project may run, by name: registered ones (shipped examples and
    installed plugins) and those ``proctor.yaml``'s ``workflows:`` or
    ``$PROCTOR_WORKFLOWS`` configure (imported to learn their names)."""
    catalog = WorkflowCatalog.for_project((), options.config)
    return {name: partial(catalog.load, name) for name in catalog.names() if ":" not in name}


def load_workflow(name: str, *, contract: Path | None = None) -> Workflow:
    """The workflow a person named, optionally re-contracted: ``package.module:attribute``,
    a registered name, or the name of a workflow ``proctor.yaml``'s ``workflows:`` or
    ``$PROCTOR_WORKFLOWS`` configure (so one name works in every command)."""
    if ":" in name:
        return _recontract(load_workflow_ref(name), contract)
    catalog = WorkflowCatalog.for_project((), options.config)
    try:
        flow = catalog.load(name)
    except UnknownWorkflow:
        known = ", ".join(catalog.names()) or "none"
        raise UnknownWorkflow(
            f"no workflow named {name!r} (known: {known}). Fix: name it as "
            "package.module:attribute, register it in the proctor.workflows entry points, "
            "or list its ref in proctor.yaml's workflows: or $PROCTOR_WORKFLOWS"
        ) from None
    return _recontract(flow, contract)


def stored_workflow(
    ref: str,
    *,
    config: str | None,
    given: Iterable[str] = (),
    contract: Path | None = None,
) -> Workflow:
    """The workflow a stored run or approval names, from the catalog of registered and
    configured workflows plus the refs the person ``given`` on this command line."""
    catalog = WorkflowCatalog.for_project(given, config)
    return _recontract(catalog.load(ref), contract)


def runner_for(store: Store, flow: Workflow) -> Runner:
    """A runner for ``flow``, on the project's gateway when ``proctor.yaml`` defines models."""
    return project_runner(store, flow, options.config)


def _recontract(workflow: Workflow, contract: Path | None) -> Workflow:
    if contract is not None:
        workflow.contract = load_contract(contract, workflow=workflow.name)
    return workflow
