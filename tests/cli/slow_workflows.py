"""The invoice workflow with a slow vendor lookup, so a worker can be stopped mid-run.

Loaded by the CLI as ``slow_workflows:slow_vendor`` (the test puts this folder on the
subprocess's ``PYTHONPATH``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from proctor.examples import invoice
from proctor.runtime import Workflow
from proctor.tools import Registry, Tool

SLOW_S = 20.0


def _slow(real: Tool) -> Tool:
    async def lookup(*args: Any, **arguments: Any) -> Any:
        await asyncio.sleep(SLOW_S)  # async: a cancelled run stops here at once
        return real.function(*args, **arguments)

    return dataclasses.replace(real, function=lookup)


def slow_vendor() -> Workflow:
    """``erp.lookup_vendor`` takes 20 s."""
    flow = invoice.workflow()
    tools = [_slow(t) if t.name == "erp.lookup_vendor" else t for t in flow.registry]
    return dataclasses.replace(flow, registry=Registry(tools))
