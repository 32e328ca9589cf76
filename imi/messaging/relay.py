"""Outbox relay: publishes committed events to the Bloodbank exchange with publisher confirms.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so every replica can run a relay; a
per-subject advisory lock keeps one subject's events on one relay, published in order. A batch
is marked published when all its confirms are in: a process killed in between re-sends at most
one batch (``BATCH_SIZE``) when the rows are claimed again. The
relay wakes on the events table's NOTIFY (and polls as a fallback), drains in batches, backs off
while the broker is away, and prunes published events after the retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.logging import get_logger
from imi.outbox.notify import plain_dsn
from imi.settings import Settings

if TYPE_CHECKING:
    from imi.messaging.bus import EventBus

log = get_logger(__name__)

# Rows claimed (and marked published) per transaction. A process killed mid-batch re-sends at
# most this many events (at-least-once: consumers de-duplicate by message_id); 20 keeps that
# window small for ~15% less throughput than 200 (measured with a 3,000-event backlog).
BATCH_SIZE = 20
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 600.0
NOTIFY_CHANNEL = "imi_events"

_CLAIM = text(
    """
    SELECT id, event_id, routing_key, subject_type, subject_id, correlation_id, envelope,
           created_at
    FROM events
    WHERE published_at IS NULL
    ORDER BY id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)
# One subject's events stay with the relay holding its lock until the transaction ends.
_LOCK_SUBJECTS = text(
    "SELECT key FROM unnest(CAST(:keys AS text[])) AS key "
    "WHERE pg_try_advisory_xact_lock(hashtextextended(key, 7211))"
)
# The oldest unpublished event of each subject. Only ids up to the batch's last can matter (an
# older event of a subject is older than the batch's row of it), which keeps this a range scan
# of the unpublished index however long the backlog is.
_OLDEST = text(
    "SELECT subject_type || ':' || subject_id, min(id) FROM events "
    "WHERE published_at IS NULL AND id <= :upto "
    "AND subject_type || ':' || subject_id = ANY(CAST(:keys AS text[])) "
    "GROUP BY 1"
)
_MARK_PUBLISHED = text(
    "UPDATE events SET published_at = now(), attempts = attempts + 1, last_error = NULL "
    "WHERE id = ANY(CAST(:ids AS bigint[]))"
)
_MARK_FAILED = text(
    "UPDATE events SET attempts = attempts + 1, last_error = :error "
    "WHERE id = ANY(CAST(:ids AS bigint[]))"
)
_PRUNE = text(
    """
    DELETE FROM events WHERE id IN (
        SELECT id FROM events
        WHERE published_at IS NOT NULL AND published_at < now() - make_interval(days => :days)
        LIMIT 10000
    )
    """
)


def _short(correlation_id: str | None) -> str | None:
    """AMQP's correlation_id is a short string (255 bytes); the envelope keeps the full id."""
    if correlation_id is None or len(correlation_id.encode()) <= 255:
        return correlation_id
    return None


@dataclass(frozen=True, slots=True)
class ChainResult:
    published: list[int]
    failed: list[int]
    error: str | None


class OutboxRelay:
    def __init__(
        self,
        bus: EventBus,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        database_url: str | None,
    ) -> None:
        self.bus = bus
        self.sessions = sessions
        self.settings = settings
        self.database_url = database_url
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.published = 0

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name="imi-outbox-relay")]
        if self.database_url:
            self._tasks.append(asyncio.create_task(self._listen(), name="imi-outbox-listen"))

    async def stop(self) -> None:
        """Let the batch in flight commit (so its events are not published twice), then stop."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.wait(self._tasks[:1], timeout=STOP_GRACE_SECONDS)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        delay = POLL_SECONDS
        last_prune = 0.0
        while not self._stopping:
            await self.bus.connected.wait()
            if self._stopping:
                break
            # Cleared before claiming: a NOTIFY arriving during the batch wakes the next one.
            self._wake.clear()
            try:
                published, failed = await self.publish_batch()
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = time.monotonic()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Never let one failure end the relay: log, back off, try again.
                log.warning("relay batch failed", error=str(exc))
                published, failed = 0, 1
            if failed and not published:
                # The broker is away or refusing: back off, the rows stay unpublished.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = POLL_SECONDS
            if published + failed >= BATCH_SIZE or failed:
                continue  # more backlog: keep draining
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def publish_batch(self) -> tuple[int, int]:
        """Publish one batch; returns (published, failed)."""
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(_CLAIM, {"limit": BATCH_SIZE})).mappings().all()
            if not rows:
                return 0, 0
            keys = sorted({f"{r['subject_type']}:{r['subject_id']}" for r in rows})
            locked = set((await session.execute(_LOCK_SUBJECTS, {"keys": keys})).scalars())
            # Another relay may hold an older event of a subject (claimed in its own batch):
            # publishing this one first would break the subject's order, so leave it.
            oldest: dict[str, int] = {
                key: first
                for key, first in (
                    await session.execute(_OLDEST, {"keys": sorted(locked), "upto": rows[-1]["id"]})
                ).all()
            }
            chains: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                key = f"{row['subject_type']}:{row['subject_id']}"
                if key in locked:
                    chains[key].append(row)
            chains = {k: c for k, c in chains.items() if c[0]["id"] == oldest.get(k)}
            results = await asyncio.gather(*(self._publish_chain(c) for c in chains.values()))
            published = [i for chain in results for i in chain.published]
            failed = [i for chain in results for i in chain.failed]
            if published:
                await session.execute(_MARK_PUBLISHED, {"ids": published})
            if failed:
                error = next(chain.error for chain in results if chain.error)
                await session.execute(_MARK_FAILED, {"ids": failed, "error": error[:500]})
        self.published += len(published)
        return len(published), len(failed)

    async def _publish_chain(self, rows: list[Any]) -> ChainResult:
        """Publish one subject's events in order; stop at the first failure."""
        done: list[int] = []
        for index, row in enumerate(rows):
            try:
                await self._publish(row)
            except Exception as exc:
                log.warning("publish failed", event_id=str(row["event_id"]), error=str(exc))
                return ChainResult(done, [r["id"] for r in rows[index:]], repr(exc))
            done.append(row["id"])
        return ChainResult(done, [], None)

    async def _publish(self, row: Any) -> None:
        envelope = row["envelope"]
        created: datetime = row["created_at"]
        await self.bus.broker.publish(
            json.dumps(envelope, separators=(",", ":")).encode(),
            exchange=self.bus.exchange,
            routing_key=row["routing_key"],
            persist=True,
            mandatory=False,  # no queue bound yet is not a failure
            message_id=str(row["event_id"]),
            correlation_id=_short(row["correlation_id"]),
            content_type="application/json",
            content_encoding="utf-8",
            timestamp=created,
            timeout=10.0,
        )

    async def prune(self) -> None:
        """Delete published events older than the retention period (in bounded batches)."""
        days = self.settings.event_retention_days
        if days <= 0:
            return
        async with self.sessions() as session, session.begin():
            result = await session.execute(_PRUNE, {"days": days})
        pruned = getattr(result, "rowcount", 0)
        if pruned:
            log.info("pruned published events", count=pruned, older_than_days=days)

    async def _listen(self) -> None:
        """Wake the relay on the events table's NOTIFY; reconnect when the link drops."""
        assert self.database_url
        while not self._stopping:
            try:
                conn = await asyncpg.connect(plain_dsn(self.database_url))
            except Exception as exc:
                log.warning("relay listener cannot connect", error=str(exc))
                await asyncio.sleep(2.0)
                continue
            closed = asyncio.Event()
            try:
                conn.add_termination_listener(lambda *_, done=closed: done.set())
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                await closed.wait()
            except Exception as exc:
                log.warning("relay listener failed", error=str(exc))
                await asyncio.sleep(2.0)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
