"""Finding workflows: the catalog a process may run, and a runner on the project's gateway.

Code is loaded only from what the operator installed or configured. A workflow is
*registered* (the ``proctor.workflows`` entry points, where installed packages and
Proctor's shipped examples declare theirs) or *configured* as ``package.module:attribute``
(``proctor serve --workflow REF``, ``proctor worker --workflow REF``, ``workflows:`` in
``proctor.yaml``, ``$PROCTOR_WORKFLOWS``). An API request, a queue item or a stored run
can only *name* one of those: ``WorkflowCatalog.load`` never imports a module a name
spells. ``load_workflow_ref`` imports ``module:attribute`` and is for a person typing it
(the CLI's ``proctor run``, eval case files they wrote).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points

from proctor.errors import NotFoundError, UsageError
from proctor.gateway import build_gateway, load_config
from proctor.policy import load_signing_key
from proctor.runtime._runner import Runner
from proctor.runtime._workflow import Workflow
from proctor.store import Store

ENTRY_POINT_GROUP = "proctor.workflows"
WORKFLOWS_ENV = "PROCTOR_WORKFLOWS"
"""Workflow refs this machine's processes may run, separated by commas or spaces."""


_NAME = r"[^\W\d]\w*"
_REF = re.compile(rf"{_NAME}(\.{_NAME})*:{_NAME}")


class UnknownWorkflow(NotFoundError):
    """A name that is neither a registered nor a configured workflow of this process."""


def registered_workflows() -> dict[str, Callable[[], object]]:
    """Registered names and their (unloaded) factories, from the entry points."""
    return {entry.name: entry.load for entry in entry_points(group=ENTRY_POINT_GROUP)}


def load_workflow_ref(ref: str) -> Workflow:
    """The workflow ``ref`` names: ``package.module:attribute`` (imported) or a registered
    name. Only for refs a person gives on purpose; requests and stored rows go through a
    ``WorkflowCatalog``."""
    if ":" not in ref:
        return _build(ref, _registered_factory(ref))
    module_name, _, attribute = ref.partition(":")
    if not _REF.fullmatch(ref):
        shown = ref if len(ref) <= 80 else ref[:77] + "..."
        raise UsageError(
            f"workflow {shown!r} is not package.module:attribute (dotted Python names, "
            "e.g. refunds:workflow)"
        )
    # Like `python -m`, find the user's own modules in the working directory.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise NotFoundError(f"cannot load workflow {ref!r}: {exc}") from exc
    return _build(ref, lambda: factory)


def _registered_factory(name: str) -> Callable[[], object]:
    found = registered_workflows()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise UnknownWorkflow(
            f"no workflow named {name!r} (registered: {known}). Fix: name it as "
            "package.module:attribute, or register it in the proctor.workflows entry points"
        )
    return found[name]


def _build(ref: str, load: Callable[[], object]) -> Workflow:
    factory = load()
    workflow = factory() if callable(factory) else factory
    if not isinstance(workflow, Workflow):
        raise NotFoundError(f"{ref!r} is not a proctor Workflow (or a function returning one)")
    workflow.ref = ref
    return workflow


def configured_refs(config: str | None = None) -> list[str]:
    """The refs an operator configured for every process: ``$PROCTOR_WORKFLOWS`` and the
    ``workflows:`` list of ``proctor.yaml`` (``config``, else the default file)."""
    from_env = os.environ.get(WORKFLOWS_ENV, "").replace(",", " ").split()
    return [*from_env, *load_config(config, check_env=False).workflows]


class WorkflowCatalog:
    """The workflows one process may run, looked up by name and never imported by one.

    Keys are the registered names, the configured refs themselves, and (once loaded) the
    ``name`` of each configured workflow. Configured refs are imported on first need,
    or at once with ``preload`` (servers and workers, so a typo fails at start).
    """

    def __init__(self, configured: Iterable[str] = ()) -> None:
        self._configured = list(dict.fromkeys(ref.strip() for ref in configured if ref.strip()))
        self._registered = registered_workflows()
        for ref in self._configured:
            if ":" not in ref and ref not in self._registered:
                _registered_factory(ref)  # raises, naming the registered ones
        self._by_name: dict[str, str] | None = None

    @classmethod
    def for_project(cls, extra: Iterable[str] = (), config: str | None = None) -> WorkflowCatalog:
        """The catalog of ``extra`` refs (given on the command line) plus the configured ones."""
        return cls([*extra, *configured_refs(config)])

    @property
    def configured(self) -> list[str]:
        """The refs configured for this process, as given."""
        return list(self._configured)

    def names(self) -> list[str]:
        """Every name a request may use, sorted."""
        return sorted({*self._registered, *self._configured, *self._names()})

    def preload(self) -> None:
        """Import every configured workflow now."""
        self._names()

    def load(self, name: str) -> Workflow:
        """The workflow ``name`` names; ``UnknownWorkflow`` if it is none of this catalog's."""
        if ":" in name and name in self._configured:
            return load_workflow_ref(name)
        if name in self._registered:
            return _build(name, self._registered[name])
        ref = self._names().get(name)
        if ref is not None:
            return load_workflow_ref(ref)
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise UnknownWorkflow(
            f"no workflow {shown!r} here: this process runs {', '.join(self.names()) or 'none'}."
            f" A request or a stored run can only name one of these. Fix: an operator adds"
            f" one with --workflow package.module:attribute (proctor serve, proctor worker),"
            f" workflows: in proctor.yaml, or ${WORKFLOWS_ENV}"
        )

    def _names(self) -> dict[str, str]:
        if self._by_name is None:
            self._by_name = {}
            for ref in self._configured:
                if ":" in ref:
                    self._by_name.setdefault(load_workflow_ref(ref).name, ref)
        return self._by_name


def project_runner(store: Store, flow: Workflow, config: str | None = None) -> Runner:
    """A runner for ``flow``, on the project's gateway when its ``proctor.yaml`` (``config``,
    else ``$PROCTOR_CONFIG`` or ``./proctor.yaml``) defines models; its cache keys are
    keyed with the signing key, so every process on the store shares them. Without
    models, the file's ``prices:`` still price the run's model."""
    settings = load_config(config)
    if not settings.models:
        return Runner(store, flow, prices=settings.price_table())
    return Runner(
        store, flow, gateway=build_gateway(settings, store, cache_secret=load_signing_key())
    )
