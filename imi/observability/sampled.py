"""Values read when they are needed rather than counted as they change: no per-query cost.

* The SQL pool (in use, idle, waiting), read from SQLAlchemy's pool: by the scraping process
  right before it answers, and every :data:`POOL_SAMPLE_SECONDS` by every worker when several
  serve (each writes its own share; the scrape sums the live workers').
* The outbox backlog and the age of its oldest event: one query, database-wide (so reported by
  the scraping process alone, not summed), bounded by :data:`BACKLOG_TIMEOUT_MS` and cached for
  :data:`BACKLOG_CACHE_SECONDS`, so a storm of scrapes costs one query every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.logging import get_logger
from imi.observability.metrics import POOL_IDLE, POOL_IN_USE, POOL_WAITING
from imi.observability.multiprocess import multiprocess_dir
from imi.outbox.backlog import Backlog, outbox_backlog

log = get_logger(__name__)

POOL_SAMPLE_SECONDS = 5.0
BACKLOG_TIMEOUT_MS = 2000
BACKLOG_CACHE_SECONDS = 5.0


def sample_pool(engine: AsyncEngine) -> None:
    """Copy the pool's state into the gauges."""
    pool = engine.sync_engine.pool
    in_use = int(getattr(pool, "checkedout", lambda: 0)())
    idle = int(getattr(pool, "checkedin", lambda: 0)())
    POOL_IN_USE.set(in_use)
    POOL_IDLE.set(idle)
    POOL_WAITING.set(_waiting(pool))


def _waiting(pool: object) -> int:
    """Checkouts blocked on an exhausted pool: the getters of its asyncio queue. SQLAlchemy has
    no public count of them; anything unexpected reads as 0 rather than failing a scrape."""
    try:
        getters = pool._pool._queue._getters  # type: ignore[attr-defined]
        return sum(1 for waiter in getters if not waiter.done())
    except Exception:
        return 0


class PoolSampler:
    """Samples the pool periodically while several workers share the metrics directory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._task: asyncio.Task[None] | None = None
        if multiprocess_dir():
            self._task = asyncio.create_task(self._run(), name="imi-metrics-pool")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a disposed engine mid-shutdown
                sample_pool(self.engine)
            await asyncio.sleep(POOL_SAMPLE_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if multiprocess_dir():
            from prometheus_client import multiprocess

            # This worker's live gauges leave the sums; its counters stay in the totals.
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class OutboxBacklog(Collector):
    """The outbox gauges, from a snapshot refreshed at most every few seconds."""

    def __init__(self) -> None:
        self.snapshot: Backlog | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, engine: AsyncEngine) -> None:
        """Query again when the snapshot is older than the cache period; scrapes arriving
        meanwhile wait for that one query. A failure leaves the gauges out of this scrape."""
        async with self._lock:
            if time.monotonic() - self._taken < BACKLOG_CACHE_SECONDS:
                return
            try:
                async with asyncio.timeout(BACKLOG_TIMEOUT_MS / 1000 + 1), engine.connect() as conn:
                    self.snapshot = await outbox_backlog(conn, timeout_ms=BACKLOG_TIMEOUT_MS)
            except Exception as exc:
                log.warning("metrics: outbox backlog unavailable", error=repr(exc)[:300])
                self.snapshot = None
            self._taken = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.snapshot is None:
            return
        yield GaugeMetricFamily(
            "imi_outbox_backlog_events",
            "Committed events not yet published (database-wide).",
            value=self.snapshot.events,
        )
        yield GaugeMetricFamily(
            "imi_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished event (0 when none waits).",
            value=self.snapshot.oldest_age_seconds,
        )
