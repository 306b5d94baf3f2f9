"""Finding a workflow by reference (``package.module:attribute`` or a registered name),
and a runner on the project's gateway: what the CLI, the server and eval replays share.

Names are looked up in the ``proctor.workflows`` entry-point group, where installed
packages (and Proctor's own shipped examples) register their workflows.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points

from proctor.errors import NotFoundError
from proctor.gateway import Gateway, load_config
from proctor.runtime._runner import Runner
from proctor.runtime._workflow import Workflow
from proctor.store import Store

ENTRY_POINT_GROUP = "proctor.workflows"


def load_workflow_ref(ref: str) -> Workflow:
    """The workflow ``ref`` names: ``package.module:attribute`` or a registered name."""
    if ":" in ref:
        module_name, _, attribute = ref.partition(":")
        # Like `python -m`, find the user's own modules in the working directory.
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise NotFoundError(f"cannot load workflow {ref!r}: {exc}") from exc
    else:
        found = {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}
        if ref not in found:
            known = ", ".join(sorted(found)) or "none"
            raise NotFoundError(
                f"no workflow named {ref!r} (registered: {known}). Fix: name it as "
                "package.module:attribute, or register it in the proctor.workflows entry points"
            )
        factory = found[ref].load()
    workflow = factory() if callable(factory) else factory
    if not isinstance(workflow, Workflow):
        raise NotFoundError(f"{ref!r} is not a proctor Workflow (or a function returning one)")
    workflow.ref = ref
    return workflow


def project_runner(store: Store, flow: Workflow, config: str | None = None) -> Runner:
    """A runner for ``flow``, on the project's gateway when its ``proctor.yaml`` (``config``,
    else ``$PROCTOR_CONFIG`` or ``./proctor.yaml``) defines models."""
    settings = load_config(config)
    if not settings.models:
        return Runner(store, flow)
    from proctor.gateway._cache import open_cache
    from proctor.gateway._ratelimit import open_limiter

    gateway = Gateway.from_config(
        settings,
        cache=open_cache(settings.cache, store),
        limiter=open_limiter(settings.rate_limits),
    )
    return Runner(store, flow, gateway=gateway)
