"""Background work every replica runs on a timer (the reservation sweeper, the stale-work job).

A job is safe with any number of replicas because each pass is: its rows claimed or marked by
conditional statements, in transactions of bounded size. This module only paces it: a pass
every ``interval`` seconds (the first one an interval after start, so a starting replica serves
first), a failed pass logged and tried again at the next tick, never ending the job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.db import unit_of_work
from imi.logging import get_logger

log = get_logger(__name__)

MAX_BATCHES_PER_PASS = 20


async def in_batches(
    sessions: async_sessionmaker[AsyncSession],
    one_batch: Callable[[AsyncSession], Awaitable[int]],
    *,
    batch: int,
) -> int:
    """One pass: ``one_batch`` in a transaction of its own, again while it comes back full
    (``batch`` rows), at most ``MAX_BATCHES_PER_PASS`` times; how many rows it handled."""
    total = 0
    for _ in range(MAX_BATCHES_PER_PASS):
        async with unit_of_work(sessions) as session:
            handled = await one_batch(session)
        total += handled
        if handled < batch:
            break
    return total


class PeriodicJob:
    """Runs ``one_pass`` every ``interval`` seconds until stopped; ``total`` counts what the
    passes reported (rows released, items announced)."""

    def __init__(self, name: str, interval: float, one_pass: Callable[[], Awaitable[int]]) -> None:
        self.name = name
        self.interval = interval
        self.one_pass = one_pass
        self.total = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"imi-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                count = await self.one_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("periodic job failed", job=self.name, error=repr(exc))
            else:
                self.total += count
                if count:
                    log.info("periodic job done", job=self.name, count=count)


def started(job: PeriodicJob) -> PeriodicJob | None:
    """The job, running; None when its interval is 0 or less (switched off)."""
    if job.interval <= 0:
        return None
    job.start()
    return job
