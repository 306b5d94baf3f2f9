"""A governed call's tool runs at its caller: in the caller's own task or thread.

The session (on its event loop) decides that a call may run and then asks for it: the
tool's ``Bridge`` posts the request to the caller, who runs the framework's own tool
execution (its context, config and callbacks hold) and replies with what it returned,
which the session records. ``serve_async`` and ``serve_sync`` are the caller's side.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from proctor.errors import ToolExecutionError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Run:
    """The session asks the caller to run the tool with ``arguments``."""

    arguments: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Any]

    def reply(self, value: Any = None, error: BaseException | None = None) -> None:
        self.loop.call_soon_threadsafe(_settle, self.done, value, error)


def _settle(done: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if done.done():  # the tool's timeout gave up on it
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(value)


@dataclass(slots=True)
class Bridge(Generic[R]):
    """One call in flight: what the caller ran, and how the session reaches it."""

    tool: str
    post: Callable[[_Run], object]
    executed: R | None = None
    raised: BaseException | None = None

    async def run(self, arguments: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self.post(_Run(arguments, loop, done))
        return await done


async def serve_async(
    tool: str,
    work: Callable[[Bridge[R]], Awaitable[T]],
    execute: Callable[[dict[str, Any]], Awaitable[R]],
    record: Callable[[R], Any],
) -> tuple[T, Bridge[R]]:
    """Await ``work`` (the governed call), running its tool in this task when asked:
    ``execute(arguments)``, of whose answer the run records ``record(answer)``."""
    inbox: asyncio.Queue[_Run] = asyncio.Queue()
    bridge: Bridge[R] = Bridge(tool, inbox.put_nowait)
    task = asyncio.ensure_future(work(bridge))
    task.add_done_callback(_retrieve)
    asked: asyncio.Future[_Run] | None = None
    try:
        while not task.done():
            asked = asyncio.ensure_future(inbox.get())
            await asyncio.wait({task, asked}, return_when=asyncio.FIRST_COMPLETED)
            if not asked.done():
                continue
            run = asked.result()
            try:
                result = await execute(run.arguments)
            except Exception as exc:  # recorded as the tool's error, raised on after
                bridge.raised = exc
                run.reply(error=ToolExecutionError(_why(exc)))
                continue
            except BaseException:
                _refuse(run)
                raise
            _answer(bridge, run, result, record)
    except BaseException:  # cancelled: whatever the session asks next finds no caller
        bridge.post = _refuse
        while not inbox.empty():
            _refuse(inbox.get_nowait())
        raise
    finally:
        if asked is not None:
            asked.cancel()
    return task.result(), bridge


def serve_sync(
    tool: str,
    work: Callable[[Bridge[R]], Future[T]],
    execute: Callable[[dict[str, Any]], R],
    record: Callable[[R], Any],
) -> tuple[T, Bridge[R]]:
    """``serve_async`` for a sync caller: ``work`` runs on another thread's loop, the
    tool in this thread."""
    inbox: queue.SimpleQueue[_Run | None] = queue.SimpleQueue()
    bridge: Bridge[R] = Bridge(tool, inbox.put)
    future = work(bridge)
    future.add_done_callback(lambda _: inbox.put(None))
    while (run := inbox.get()) is not None:
        try:
            result = execute(run.arguments)
        except Exception as exc:
            bridge.raised = exc
            run.reply(error=ToolExecutionError(_why(exc)))
            continue
        _answer(bridge, run, result, record)
    return future.result(), bridge


def _answer(bridge: Bridge[R], run: _Run, result: R, record: Callable[[R], Any]) -> None:
    bridge.executed = result
    try:
        recorded = record(result)
    except ToolExecutionError as exc:  # the framework turned the tool's failure into an answer
        run.reply(error=exc)
    else:
        run.reply(recorded)


def _refuse(run: _Run) -> None:
    run.reply(error=ToolExecutionError("the agent's call was cancelled before its tool ran"))


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a cancelled caller's call still ends; its error is not lost


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
