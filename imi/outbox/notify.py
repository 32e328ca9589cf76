"""Committed events for live subscribers: one LISTEN connection per process, fanned out.

The ``events_notify`` trigger (migration 0002) runs ``pg_notify('imi_events', id)`` for every
event row. PostgreSQL delivers notifications when the inserting transaction commits, and never
for a rolled-back one, so subscribers see committed events only, on every replica, without a
broker.

``EventHub`` holds one asyncpg connection doing ``LISTEN imi_events``; it connects on the
first subscriber. Notified ids are collected for a few milliseconds, the rows are read in one
query on the same connection, and each subscriber gets the rows its filter accepts.

Back-pressure: every subscriber has a bounded queue. A subscriber that lets it fill up is
*disconnected*, not slowed down and not silently thinned out: it keeps what was queued, then
``next()`` raises ``SubscriberLagged``. Fan-out never waits, so one slow client cannot delay
the others, and a client that sees the error knows to re-query and subscribe again.

When the connection drops, the hub reconnects with backoff and catches up on events with ids
above the highest one it was notified of (bounded by ``CATCH_UP_LIMIT``). Ids come from a
sequence and transactions may commit out of id order, so an event committed during the outage
with a lower id than that mark is not replayed: live streams are best effort across a database
outage; the events table stays the durable log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from imi.logging import get_logger
from imi.outbox.models import Event

log = get_logger(__name__)

CHANNEL = "imi_events"
CATCH_UP_LIMIT = 1000
COLUMNS = (
    "id, event_id, event_type, routing_key, subject_type, subject_id, correlation_id, "
    "envelope, created_at, published_at, attempts, last_error"
)

EventFilter = Callable[[Event], bool]


class StreamClosed(Exception):
    """The stream ended; the message says why. Safe to show to clients."""


class SubscriberLagged(StreamClosed):
    """The subscriber's queue overflowed: events were lost for it, so its stream ends."""


class EventSubscription:
    """One subscriber's bounded queue of committed events that its filter accepted."""

    def __init__(self, hub: EventHub, accept: EventFilter, maxsize: int) -> None:
        self._hub = hub
        self._accept = accept
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self._closed: StreamClosed | None = None

    def offer(self, events: Sequence[Event]) -> None:
        """Queue the accepted events without waiting; overflowing closes the subscription."""
        if self._closed is not None:
            return
        for event in events:
            if not self._accept(event):
                continue
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                self._hub.unsubscribe(self)
                self._closed = SubscriberLagged(
                    f"subscriber fell more than {self._queue.maxsize} events behind; "
                    "re-query and subscribe again"
                )
                return  # the queue is full, so the reader is not blocked: it drains, then fails

    def close(self, reason: StreamClosed) -> None:
        if self._closed is None:
            self._closed = reason
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wakes a reader blocked on an empty queue

    async def next(self) -> Event:
        """The next event; raises the closing reason once the queue is drained."""
        while True:
            if self._closed is not None and self._queue.empty():
                raise self._closed
            event = await self._queue.get()
            if event is not None:
                return event

    def drain(self) -> list[Event]:
        """Events already queued, without waiting (to handle a burst as one batch)."""
        events: list[Event] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                events.append(event)
        return events

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def __aenter__(self) -> EventSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    """The process's LISTEN connection and its subscribers."""

    def __init__(
        self,
        database_url: str,
        *,
        debounce: float = 0.005,
        queue_size: int = 1000,
        keepalive: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._dsn = plain_dsn(database_url)
        self._debounce = debounce
        self._queue_size = queue_size
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._subscribers: set[EventSubscription] = set()
        self._pending: set[int] = set()
        self._high_water: int | None = None  # highest event id notified so far
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def backend_pid(self) -> int | None:
        """The LISTEN connection's server process id (for diagnostics and tests)."""
        conn = self._conn
        return conn.get_server_pid() if conn is not None and not conn.is_closed() else None

    async def subscribe(self, accept: EventFilter | None = None) -> EventSubscription:
        """Register a subscriber; returns once LISTEN is active, so no later commit is missed.

        Use as ``async with await hub.subscribe(...) as sub:`` so leaving unregisters it.
        """
        if self._stopped:
            raise StreamClosed("the event stream is shutting down")
        self.start()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._connected.wait()
        except TimeoutError:
            raise StreamClosed("the event stream is unavailable (database unreachable)") from None
        subscription = EventSubscription(self, accept or _accept_all, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: EventSubscription) -> None:
        self._subscribers.discard(subscription)

    def start(self) -> None:
        """Start listening (idempotent; ``subscribe`` calls it)."""
        if self._task is None and not self._stopped:
            self._task = asyncio.create_task(self._run(), name="imi-event-hub")

    async def stop(self) -> None:
        """Stop listening and end every subscriber's stream."""
        # The flag, not only the cancellation: on Python 3.11 a cancellation that races a
        # completing wait_for inside asyncpg can be swallowed.
        self._stopped = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_connection()
        for subscription in list(self._subscribers):
            subscription.close(StreamClosed("the server is shutting down"))
        self._subscribers.clear()

    # -- the listener task ------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopped:
            try:
                await self._connect()
                backoff = 0.1
                await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: drop the connection, then retry
                log.warning("event listener lost its connection", error=repr(exc))
            self._connected.clear()
            await self._close_connection()
            if self._stopped:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        self._conn = conn
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(CHANNEL, self._on_notify)
        if self._high_water is not None and self._subscribers:
            await self._catch_up(conn)
        self._connected.set()
        log.info("event listener connected", backend_pid=conn.get_server_pid())

    async def _pump(self) -> None:
        conn = self._conn
        assert conn is not None
        if self._pending:
            self._wake.set()  # ids notified before a reconnect are still to be read
        while not self._stopped:
            try:
                async with asyncio.timeout(self._keepalive):
                    await self._wake.wait()
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=self._keepalive)
                continue
            if self._stopped:
                return
            if conn.is_closed():
                raise ConnectionError("LISTEN connection closed")
            await asyncio.sleep(self._debounce)  # let the rest of a burst arrive
            self._wake.clear()
            ids, self._pending = self._pending, set()
            if not ids or not self._subscribers:
                continue
            try:
                rows = await conn.fetch(
                    f"SELECT {COLUMNS} FROM events WHERE id = ANY($1::bigint[]) ORDER BY id",
                    sorted(ids),
                )
            except BaseException:
                self._pending |= ids  # read them after reconnecting
                raise
            self._fan_out([Event(**dict(row)) for row in rows])

    async def _catch_up(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT {CATCH_UP_LIMIT}",
            self._high_water,
        )
        events = [Event(**dict(row)) for row in rows]
        self._pending -= {event.id for event in events if event.id is not None}
        if events:
            self._high_water = max(self._high_water or 0, events[-1].id or 0)
        self._fan_out(events)

    def _fan_out(self, events: list[Event]) -> None:
        if events:
            for subscription in list(self._subscribers):
                subscription.offer(events)

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            event_id = int(payload)
        except ValueError:
            return
        self._pending.add(event_id)
        self._high_water = max(self._high_water or 0, event_id)
        self._wake.set()

    def _on_terminated(self, conn: Any) -> None:
        self._wake.set()  # the pump sees the closed connection and reconnects

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await conn.close()
            if not conn.is_closed():
                conn.terminate()


def plain_dsn(database_url: str) -> str:
    """asyncpg takes the plain URL (``?host=/socket/dir`` and ``sslmode`` included)."""
    scheme, sep, rest = database_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def _accept_all(event: Event) -> bool:
    return True
