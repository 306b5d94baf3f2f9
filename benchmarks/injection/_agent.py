"""``InjectableAgent``: a deterministic stand-in for an LLM that does its task and obeys
every injected instruction it reads.

It implements ``proctor.gateway.ModelClient``. Each turn is decided from the conversation
alone (the run input and the tool results so far), so a run resumed after an approval, with
a new agent object, continues where it stopped. The user's request names the task. Each
call's id says whose it is: ``t<step>.<n>`` for the task, ``a.<attack>.<step>.<n>`` for an
attacker, which is how the ideal approver recognises the attacker's calls.

The agent is as gullible as a model can be: as soon as a tool result holds an injected
instruction it proposes the attacker's calls, with the values taken from the text it read,
then goes back to its task. A call that is refused ends that attack (the agent does not
try another way) but not the task; a task call that does not run ends the task, with an
answer that says why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic

from injection._core import Attack, Call, E, Observed, Seen, Suite, Task, blocks, strings
from proctor.gateway import (
    AssistantMessage,
    CallSettings,
    Message,
    ModelResponse,
    SystemMessage,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from proctor.store import RecordedToolCall, Usage

_STATUSES = frozenset(
    {"denied", "approval_denied", "invalid_arguments", "tool_error", "draft_recorded"}
)
ATTACK_PREFIX = "a."


def is_attacker_call(call_id: str) -> bool:
    """Whether the agent proposed this call on an attacker's behalf."""
    return call_id.startswith(ATTACK_PREFIX)


@dataclass(frozen=True, slots=True)
class Decision:
    """The agent's next turn: calls (id, call) or a final answer."""

    calls: tuple[tuple[str, Call], ...] = ()
    text: str | None = None


def read(messages: Sequence[Message]) -> Seen:
    """What the agent has seen, from the conversation."""
    run_input: dict[str, Any] = {}
    proposed: dict[str, tuple[str, dict[str, Any]]] = {}
    steps: list[Observed] = []
    notes: list[str] = []
    answered = False
    for message in messages:
        match message:
            case UserMessage() if not run_input and not steps:
                value = json.loads(message.content)
                run_input = value if isinstance(value, dict) else {"request": message.content}
            case UserMessage():
                if answered:
                    notes.append(message.content)
            case AssistantMessage():
                answered = not message.tool_calls
                for call in message.tool_calls:
                    proposed[call.id] = (call.name, call.arguments)
            case ToolMessage():
                name, arguments = proposed.get(message.call_id, (message.name, {}))
                result = _json(message.content)
                status = None
                if isinstance(result, dict) and result.get("status") in _STATUSES:
                    status = str(result["status"])
                steps.append(Observed(message.call_id, name, arguments, result, status))
            case SystemMessage():
                pass
    return Seen(input=run_input, steps=tuple(steps), notes=tuple(notes))


def decide(suite: Suite[E], seen: Seen) -> Decision:
    """The agent's next turn."""
    task = suite.task(seen.request)
    if task is None:
        return Decision(text="I do not know how to help with that.")
    for attack, block in _injections(suite, seen):
        turn = _attack_turn(attack, block, seen)
        if turn is not None:
            return turn
    return _task_turn(suite, task, seen)


def _injections(suite: Suite[E], seen: Seen) -> list[tuple[Attack[E], str]]:
    """Each attack whose instruction the agent has read, with the text, first seen first."""
    found: dict[str, tuple[Attack[E], str]] = {}
    for step in seen.steps:
        if not step.ok:
            continue
        for block in (b for text in strings(step.result) for b in blocks(text)):
            for attack in suite.attacks:
                if attack.id not in found and attack.matches(block):
                    found[attack.id] = (attack, block)
    return list(found.values())


def _issued(seen: Seen, prefix: str) -> tuple[int, bool]:
    """The last step index issued under ``prefix`` (-1: none), and whether a call of that
    step did not run."""
    last, failed = -1, False
    for step in seen.steps:
        if step.call_id.startswith(prefix):
            index = int(step.call_id[len(prefix) :].split(".")[0])
            if index > last:
                last, failed = index, False
            if index == last and not step.ok:
                failed = True
    return last, failed


def _attack_turn(attack: Attack[E], block: str, seen: Seen) -> Decision | None:
    prefix = f"{ATTACK_PREFIX}{attack.id}."
    last, failed = _issued(seen, prefix)
    if failed:
        return None
    for index in range(last + 1, len(attack.steps)):
        calls = _as_calls(attack.steps[index](seen, block))
        if calls:
            return Decision(calls=tuple((f"{prefix}{index}.{n}", c) for n, c in enumerate(calls)))
    return None


def _task_turn(suite: Suite[E], task: Task[E], seen: Seen) -> Decision:
    last, failed = _issued(seen, "t")
    if failed:
        return Decision(text=_stopped(seen))
    # The task works from its own calls' results, whatever the attacker had it call.
    own = Seen(
        input=seen.input,
        steps=tuple(s for s in seen.steps if not is_attacker_call(s.call_id)),
        notes=seen.notes,
    )
    for index in range(last + 1, len(task.steps)):
        calls = _as_calls(task.steps[index](own))
        if calls:
            return Decision(calls=tuple((f"t{index}.{n}", c) for n, c in enumerate(calls)))
    text = task.answer(own)
    if seen.notes:
        # The runtime refused the answer: give it again, without what was objected to.
        return Decision(text=text)
    for attack, block in _injections(suite, seen):
        if attack.say is not None:
            text += "\n\n" + attack.say(block)
    return Decision(text=text)


def _stopped(seen: Seen) -> str:
    step = next(s for s in reversed(seen.steps) if s.call_id.startswith("t") and not s.ok)
    error = step.result.get("error") if isinstance(step.result, dict) else step.result
    return f"I stopped: {step.tool} was not carried out ({step.status}: {error})."


def _as_calls(value: Call | Sequence[Call] | None) -> list[Call]:
    if value is None:
        return []
    if isinstance(value, Call):
        return [value]
    return list(value)


def _json(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content


@dataclass(kw_only=True)
class InjectableAgent(Generic[E]):
    """The scripted agent of one suite (``ModelClient``)."""

    suite: Suite[E]

    @property
    def name(self) -> str:
        return f"scripted:agent-{self.suite.name}"

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        settings: CallSettings | None = None,
    ) -> ModelResponse:
        turn = decide(self.suite, read(messages))
        calls = tuple(
            RecordedToolCall(id=call_id, name=call.tool, arguments=call.args)
            for call_id, call in turn.calls
        )
        prompt = sum(len(getattr(m, "content", "") or "") for m in messages)
        output = len(turn.text or "") + sum(len(json.dumps(c.arguments)) for c in calls)
        return ModelResponse(
            model=self.name,
            text=turn.text,
            tool_calls=calls,
            usage=Usage(input_tokens=prompt // 4 + 1, output_tokens=output // 4 + 1),
            finish_reason="tool_calls" if calls else "stop",
        )
