"""Streamed replies of the fake OpenAI server with more control than ``Completion`` has.

``ScriptedChunks`` sends exactly the deltas it is given (text cut where the test wants,
tool-call arguments in fragments), optionally without a finish, usage or ``[DONE]``;
``HeldStream`` sends some chunks, then waits for the test (or for the client to hang up).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from support.fake_replies import (
    Completion,
    RecordedRequest,
    end_stream,
    send_event,
    start_stream,
)


def text(piece: str) -> dict[str, Any]:
    """A delta with a piece of text."""
    return {"content": piece}


def call_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    """The delta opening a tool call: its id and name, no arguments yet."""
    function = {"name": name, "arguments": ""}
    return {
        "tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]
    }


def call_arguments(index: int, fragment: str) -> dict[str, Any]:
    """A delta adding ``fragment`` to the arguments of the tool call at ``index``."""
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


@dataclass(frozen=True, kw_only=True)
class ScriptedChunks(Completion):
    """A stream of exactly ``deltas`` (after the role chunk), then the finish, usage, [DONE].

    ``finish=None`` leaves out the finish chunk; ``usage=False`` the usage chunk even when
    asked; ``done=False`` the ``[DONE]`` line. The HTTP answer always ends cleanly.
    """

    deltas: Sequence[dict[str, Any]] = ()
    finish: str | None = "stop"
    usage: bool = True
    done: bool = True

    def chunks(self, request: RecordedRequest) -> list[dict[str, Any]]:
        full = self.payload(request)
        head = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 0}
        head["model"] = full["model"]

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**head, "choices": [choice]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk(delta) for delta in self.deltas]
        if self.finish is not None:
            chunks.append(chunk({}, self.finish))
        options = request.body.get("stream_options") or {}
        if self.usage and options.get("include_usage"):
            chunks.append({**head, "choices": [], "usage": full["usage"]})
        return chunks

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        start_stream(handler)
        for chunk in self.chunks(request):
            send_event(handler, json.dumps(chunk))
        if self.done:
            send_event(handler, "[DONE]")
        end_stream(handler)


@dataclass(frozen=True, kw_only=True)
class HeldStream(Completion):
    """Sends ``before`` chunks, then holds until ``release`` is set, then the rest.

    If the client hangs up while it holds, ``hung_up`` is set and nothing more is sent.
    """

    before: int = 2
    release: threading.Event = field(default_factory=threading.Event)
    hung_up: threading.Event = field(default_factory=threading.Event)
    hold_s: float = 10.0

    def write(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        start_stream(handler)
        chunks = self.chunks(request)
        for chunk in chunks[: self.before]:
            send_event(handler, json.dumps(chunk))
        if self._hung_up(handler.connection):
            self.hung_up.set()
            handler.close_connection = True
            return
        for chunk in chunks[self.before :]:
            send_event(handler, json.dumps(chunk))
        send_event(handler, "[DONE]")
        end_stream(handler)

    def _hung_up(self, sock: socket.socket) -> bool:
        deadline = time.monotonic() + self.hold_s
        while not self.release.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable and not sock.recv(1, socket.MSG_PEEK):
                return True  # EOF: the client closed the connection
        return False
