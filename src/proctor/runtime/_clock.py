"""Time as the runtime reads it: injected, so tests move it instead of waiting for it.

Approval expiry, runtime ceilings, totals and the timestamps of events all read the run's
clock (``Runner(clock=...)``, ``time.time`` by default). Latencies are measured, not
decided on, and keep the monotonic counter.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns the current time in epoch seconds."""


class ManualClock:
    """A clock that moves only when told to: for tests of expiry and ceilings.

    Example::

        clock = ManualClock()
        runner = Runner(store, workflow, clock=clock)
        ...
        clock.advance(3600)  # the approval's hour has passed
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
