"""The database circuit breaker: fail fast instead of a thundering herd against a dead database.

One breaker per engine (``imi.db`` wires it into the connect path, so every surface that reaches
the database — REST, GraphQL, MCP, consumers, sweepers, health — shares it). Only
connection-level failures count (refused, reset, timed out, "cannot connect now"); an SQL error
on a live connection means the database is there. States:

- **closed**: connects go through; ``failure_threshold`` failed connects in a row open it;
- **open**: every connect fails at once with ``CircuitOpen`` (a ``ConnectionError``, so every
  adapter already answers it as 503 SERVICE_UNAVAILABLE) until ``cooldown`` has passed;
- **half-open**: one connect goes through as the probe, the others still fail fast; its success
  closes the breaker, its failure opens it for another cool-down.

No web framework here: the adapters translate ``CircuitOpen`` (and ``retry_after``) themselves.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

State = Literal["closed", "open", "half_open"]

# What an answer to a database outage tells the caller to wait when no breaker knows better.
DEFAULT_RETRY_AFTER_SECONDS = 2


class CircuitOpen(ConnectionError):
    """The database breaker is open: the connect was not even tried."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"database circuit breaker open; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


class CircuitBreaker:
    """Counts consecutive connection failures; thread-safe (the state is tiny)."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.opened = 0  # times it opened, for health and logs

    @property
    def state(self) -> State:
        with self._lock:
            return self._current()

    @property
    def failures(self) -> int:
        """Connection failures since the last success."""
        return self._failures

    def _current(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
            self._state = "half_open"
            self._probing = False
        return self._state

    def before(self) -> None:
        """Called before a connect: raises ``CircuitOpen`` unless this one may try."""
        with self._lock:
            state = self._current()
            if state == "closed":
                return
            if state == "half_open" and not self._probing:
                self._probing = True  # this caller is the probe
                return
            raise CircuitOpen(self._retry_after())

    def _retry_after(self) -> float:
        if self._state == "open":
            return max(0.0, self.cooldown - (self._clock() - self._opened_at))
        return self.cooldown  # half-open: the probe decides within about one cool-down

    def success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._failures = 0
            self._probing = False

    def failure(self) -> bool:
        """Record a connection failure; True when this one opened the breaker."""
        with self._lock:
            state = self._current()
            self._failures += 1
            if state == "half_open" or (
                state == "closed" and self._failures >= self.failure_threshold
            ):
                self._state = "open"
                self._opened_at = self._clock()
                self._probing = False
                self.opened += 1
                return True
            return False

    def release_probe(self) -> None:
        """The probe ended without telling (a cancelled or non-connection failure)."""
        with self._lock:
            self._probing = False

    def snapshot(self) -> dict[str, Any]:
        """For ``/health``: state, consecutive failures, seconds until the next probe."""
        with self._lock:
            state = self._current()
            retry = round(self._retry_after(), 3) if state == "open" else None
            return {
                "state": state,
                "consecutive_failures": self._failures,
                "retry_after_seconds": retry,
                "opened_total": self.opened,
            }


def retry_after_seconds(exc: BaseException) -> int:
    """The whole seconds a caller should wait after ``exc`` (an outage answer's Retry-After)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CircuitOpen):
            return max(1, math.ceil(current.retry_after))
        current = current.__cause__ or current.__context__
    return DEFAULT_RETRY_AFTER_SECONDS


def backoff_delays(retries: int, first: float, cap: float = 2.0) -> list[float]:
    """The pauses before each retry: ``first``, doubled each time, at most ``cap``."""
    return [min(first * 2**attempt, cap) for attempt in range(retries)]
