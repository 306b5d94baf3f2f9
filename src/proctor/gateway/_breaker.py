"""A circuit breaker per deployment: skip one that keeps failing, then try it again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from proctor.gateway._config import CooldownConfig

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None
    """Set while the circuit is open or half-open (the cooldown has elapsed)."""
    trial: bool = False
    """A half-open trial call is in flight; others keep skipping until it ends."""


class CircuitBreaker:
    """Closed -> open after ``allowed_failures`` failures in a row -> half-open after
    ``cooldown_s``: one trial call; its success closes the circuit, its failure re-opens it.

    State is per deployment name and shared by every call through the same breaker.
    """

    def __init__(self, config: CooldownConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._clock = clock
        self._states: dict[str, _State] = {}

    def cooling(self, name: str) -> float:
        """Seconds of cooldown left (0 once it has elapsed, even while a trial runs)."""
        state = self._states.get(name)
        if state is None or state.open_until is None:
            return 0.0
        return max(0.0, state.open_until - self._clock())

    def is_open(self, name: str) -> bool:
        """Whether calls to ``name`` must be skipped now."""
        state = self._states.get(name)
        # While the half-open trial runs, the others wait for its verdict.
        return state is not None and (self.cooling(name) > 0 or state.trial)

    def failures(self, name: str) -> int:
        """Failures in a row since the last success."""
        state = self._states.get(name)
        return 0 if state is None else state.failures

    def state(self, name: str) -> BreakerState:
        """``closed`` (calls go), ``open`` (skipped while cooling) or ``half_open`` (the
        cooldown is over: one trial call decides, or is deciding)."""
        state = self._states.get(name)
        if state is None or state.open_until is None:
            return "closed"
        return "open" if self.cooling(name) > 0 else "half_open"

    def acquire(self, name: str) -> bool:
        """Claim the right to call ``name``: always when closed, once when half-open."""
        if self.is_open(name):
            return False
        state = self._states.get(name)
        if state is not None and state.open_until is not None:
            state.trial = True
        return True

    def release(self, name: str) -> None:
        """End a trial without a verdict (e.g. the request itself was at fault)."""
        state = self._states.get(name)
        if state is not None:
            state.trial = False

    def success(self, name: str) -> None:
        self._states.pop(name, None)

    def failure(self, name: str, *, trip: bool = False) -> None:
        """Count a failed attempt; ``trip`` opens the circuit at once (e.g. a bad API key)."""
        state = self._states.setdefault(name, _State())
        state.failures += 1
        if trip or state.trial or state.failures >= self.config.allowed_failures:
            state.open_until = self._clock() + self.config.cooldown_s
        state.trial = False
