"""The invoice workflow, rigged to SIGKILL its own process at one chosen point of a run.

Loaded by the CLI as ``crash_workflows:<attribute>`` (the test puts this folder on the
subprocess's ``PYTHONPATH``). Each workflow keeps the invoice example's name, contract,
tools and scripted agent, so its runs are ordinary invoice runs and can be resumed.

A run's record remembers the reference it was started with, so the process that resumes
it loads the same rigged workflow. The kill therefore fires once: only while the file
named by ``$CRASH_MARKER`` does not exist, which the killer creates just before it dies.
Without ``CRASH_MARKER`` nothing is ever killed (importing this module is harmless).
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proctor.examples import invoice
from proctor.gateway import AssistantMessage, Message, ScriptedModel, ToolMessage, Turn
from proctor.runtime import Workflow
from proctor.tools import Registry, Tool, ToolContext

PAY = "erp.create_payment"
MARKER_ENV = "CRASH_MARKER"


def die_once() -> None:
    """SIGKILL this process, unless it already happened once for this marker."""
    marker = os.environ.get(MARKER_ENV)
    if not marker or Path(marker).exists():
        return
    Path(marker).write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


def _paying_then_dying(real: Tool) -> Tool:
    """``real``, but the process dies after the payment is in the ERP, before it returns."""

    def create_payment(ctx: ToolContext, **arguments: Any) -> Any:
        result = real.function(ctx, **arguments)
        die_once()  # the write is committed in the ERP; its result never reaches the log
        return result

    return dataclasses.replace(real, function=create_payment)


def kill_after_payment() -> Workflow:
    """Dies inside ``erp.create_payment``, after its write, before ``tool_finished``."""
    flow = invoice.workflow()
    tools = [_paying_then_dying(t) if t.name == PAY else t for t in flow.registry]
    return dataclasses.replace(flow, registry=Registry(tools))


def _paid(messages: Sequence[Message]) -> bool:
    """Whether the conversation holds the result of an ``erp.create_payment`` call."""
    pay_calls = {
        call.id
        for message in messages
        if isinstance(message, AssistantMessage)
        for call in message.tool_calls
        if call.name == PAY
    }
    return any(isinstance(m, ToolMessage) and m.call_id in pay_calls for m in messages)


def kill_before_next_turn() -> Workflow:
    """Dies when the model is asked for its turn after the payment's result is recorded."""
    flow = invoice.workflow()
    procedure = flow.scripts["procedure"]

    def make() -> ScriptedModel:
        model = procedure()
        assert isinstance(model, ScriptedModel)
        script = model.script
        assert callable(script)

        def dying(messages: Sequence[Message]) -> Turn:
            if _paid(messages):
                die_once()  # tool_finished is durable; the next model call never happens
            return script(messages)

        return dataclasses.replace(model, script=dying)

    return dataclasses.replace(flow, scripts={**flow.scripts, "procedure": make})
