"""The reservation sweeper: releases reservations past expiry and those whose agent stopped
heartbeating (``agents.last_seen`` older than the stale limit; an agent id that never
registered is judged by expiry alone).

Safe with any number of replicas sweeping at once: each pass claims its rows with ``FOR UPDATE
SKIP LOCKED`` and releases them with an UPDATE that re-checks ``released_at``, in one
transaction with their ``imi.reservation.released`` events, so each reservation is released,
and announced, exactly once (by a sweeper or by its holder, whichever comes first).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.coordination import reservations_queries as q
from imi.coordination.reservations import Reservation, release_events
from imi.outbox import emit
from imi.periodic import PeriodicJob, in_batches, started

BATCH = 500  # reservations released per transaction; a pass repeats until none is left


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

    async def one_batch(session: AsyncSession) -> int:
        return len(await sweep(session, stale_seconds=stale_seconds, batch=batch))

    return await in_batches(sessions, one_batch, batch=batch)


def start_sweeper(
    sessions: async_sessionmaker[AsyncSession], *, interval: float, stale_seconds: float
) -> PeriodicJob | None:
    """The running sweeper, or None when ``interval`` is 0 (switched off)."""

    async def one_pass() -> int:
        return await sweep_all(sessions, stale_seconds=stale_seconds)

    return started(PeriodicJob("reservation-sweeper", interval, one_pass))
