"""``ObservedTrajectory``: what an agent did, as another system recorded it.

A format-neutral view of one agent run read from a trace (OpenTelemetry GenAI spans,
OpenInference, Langfuse), a chat-completions transcript or a dataset row: the input, the
model's turns (text and tool calls), the tools' results, the final answer, usage, the
model's name and times. Readers (``read_traces``) build it; ``proctor eval import`` turns
it into a case, an observed run and a list of what the contract would have refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from proctor.errors import ConfigError
from proctor.store import Usage

TraceFormat = Literal["otlp", "openinference", "langfuse", "openai-jsonl", "json"]
TRACE_FORMATS: tuple[TraceFormat, ...] = (
    "otlp",
    "openinference",
    "langfuse",
    "openai-jsonl",
    "json",
)


class TraceFormatError(ConfigError):
    """A trace file (or request) that cannot be read: the message names what, where, fix."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ObservedToolCall:
    """A tool call as the agent's model proposed it."""

    id: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    """The arguments as sent, when they were not a JSON object."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ObservedResult:
    """What a tool call returned (or how it failed), as recorded."""

    call_id: str
    tool: str
    ok: bool = True
    result: Any = None
    error: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ObservedTurn:
    """One model response: its text, its tool calls, its usage."""

    text: str | None = None
    calls: tuple[ObservedToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    at: float | None = None
    """When the response arrived (epoch seconds), if known."""


@dataclass(kw_only=True)
class ObservedTrajectory:
    """One agent run as observed (see the module's docstring)."""

    id: str
    """The trace id, or where in the file (``line 3``, ``item 2``)."""
    source: str
    """Where it came from: the format, and the instrumentation if known (``pydantic-ai``)."""
    agent: str | None = None
    model: str | None = None
    instructions: str = ""
    messages: list[str] = field(default_factory=list)
    """The user's messages, in order."""
    input: dict[str, Any] | None = None
    """The run's input, when the source holds one as an object (else built from messages)."""
    turns: list[ObservedTurn] = field(default_factory=list)
    results: dict[str, ObservedResult] = field(default_factory=dict)
    """Tool results by call id."""
    final_text: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    workflow: str | None = None
    """The workflow the source names (a ``proctor.workflow`` attribute), if any."""
    notes: list[str] = field(default_factory=list)
    """What the reader could not take over, for the report."""

    @property
    def calls(self) -> list[ObservedToolCall]:
        """Every tool call, in the order the model proposed them."""
        return [call for turn in self.turns for call in turn.calls]

    @property
    def usage(self) -> Usage:
        total = Usage()
        for turn in self.turns:
            total = total + turn.usage
        return total

    def run_input(self, key: str = "prompt") -> dict[str, Any]:
        """The input an observed run starts with: the source's own object, else the first
        user message (a JSON object as it is, other text under ``key``)."""
        if self.input is not None:
            return self.input
        if not self.messages:
            return {}
        first = self.messages[0]
        parsed = parse_json(first)
        if isinstance(parsed, dict):
            return parsed
        return {key: first}

    def ensure_final(self) -> None:
        """Make the final answer the last turn, when the source gave it apart from turns."""
        last = self.turns[-1] if self.turns else None
        if self.final_text is None and last is not None and not last.calls:
            self.final_text = last.text
        elif self.final_text is not None and (last is None or last.calls):
            self.turns.append(ObservedTurn(text=self.final_text, model=self.model))


def parse_json(text: Any) -> Any:
    """``text`` decoded as JSON if it is a string holding JSON, else ``text`` itself."""
    if not isinstance(text, str | bytes):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def arguments_of(value: Any) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments as recorded (an object, or JSON text of one): the object, and
    the raw text when it was not one."""
    parsed = parse_json(value)
    if isinstance(parsed, dict):
        return parsed, None
    if parsed is None or parsed == "":
        return {}, None
    return {}, value if isinstance(value, str) else orjson.dumps(value).decode()


def text_of(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [text_of(part) for part in content]
        joined = "\n".join(t for t in texts if t)
        return joined or None
    if isinstance(content, dict):
        for key in ("content", "text", "value"):
            if isinstance(content.get(key), str):
                return str(content[key])
    return None


def load_json_items(text: bytes | str, *, where: str, fix: str) -> Any:
    """A JSON document, or JSON lines (as a list); ``TraceFormatError`` names the line."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raw = text.encode() if isinstance(text, str) else text
        lines = [line for line in raw.splitlines() if line.strip()]
        if len(lines) < 2:
            raise TraceFormatError(f"{where}: not JSON ({exc}). Fix: {fix}") from None
        items = []
        for number, line in enumerate(lines, 1):
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as err:
                raise TraceFormatError(
                    f"{where}: line {number} is not JSON ({err}). Fix: {fix}"
                ) from None
        return items
