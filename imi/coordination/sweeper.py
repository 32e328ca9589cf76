"""The reservation sweeper: releases reservations past expiry and those whose agent stopped
heartbeating (``agents.last_seen`` older than the stale limit; an agent id that never
registered is judged by expiry alone).

Safe with any number of replicas sweeping at once: each pass claims its rows with ``FOR UPDATE
SKIP LOCKED`` and releases them with an UPDATE that re-checks ``released_at``, in one
transaction with their ``imi.reservation.released`` events, so each reservation is released,
and announced, exactly once (by a sweeper or by its holder, whichever comes first).
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.coordination import reservations_queries as q
from imi.coordination.reservations import Reservation, release_events
from imi.db import unit_of_work
from imi.logging import get_logger
from imi.outbox import emit

log = get_logger(__name__)

BATCH = 500  # reservations released per transaction; a pass repeats until none is left
MAX_BATCHES_PER_PASS = 20


async def sweep(
    session: AsyncSession, *, stale_seconds: float, batch: int = BATCH
) -> list[Reservation]:
    """Release one batch of expired or stale-agent reservations, with their events."""
    params = {"stale_seconds": stale_seconds, "batch": batch}
    rows = (await session.execute(q.SWEEP, params)).all()
    released = [Reservation.from_row(row) for row in rows]
    if released:
        await emit(session, *release_events(released))
    return released


async def sweep_all(
    sessions: async_sessionmaker[AsyncSession], *, stale_seconds: float, batch: int = BATCH
) -> int:
    """One pass: batches (one transaction each) until a batch comes back short."""
    total = 0
    for _ in range(MAX_BATCHES_PER_PASS):
        async with unit_of_work(sessions) as session:
            released = await sweep(session, stale_seconds=stale_seconds, batch=batch)
        total += len(released)
        if len(released) < batch:
            break
    return total


class ReservationSweeper:
    """Runs ``sweep_all`` every ``interval`` seconds until stopped; a failed pass is logged and
    the next one tries again (the rows stay live until then, never lost)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float,
        stale_seconds: float,
    ) -> None:
        self.sessions = sessions
        self.interval = interval
        self.stale_seconds = stale_seconds
        self.released = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="imi-reservation-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # A pass every interval, the first one interval after start: a starting replica
            # (or a test's app) does not race its own first requests.
            await asyncio.sleep(self.interval)
            try:
                count = await sweep_all(self.sessions, stale_seconds=self.stale_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reservation sweep failed", error=repr(exc))
            else:
                self.released += count
                if count:
                    log.info("reservations released by the sweeper", count=count)


def start_sweeper(
    sessions: async_sessionmaker[AsyncSession], *, interval: float, stale_seconds: float
) -> ReservationSweeper | None:
    """The running sweeper, or None when ``interval`` is 0 (switched off)."""
    if interval <= 0:
        return None
    sweeper = ReservationSweeper(sessions, interval=interval, stale_seconds=stale_seconds)
    sweeper.start()
    return sweeper
