"""Shared by the consumer tests: run the app against the test broker, build messages, wait for
effects in the database, read dead letters."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.outbox.models import Event, ProcessedMessage
from tests.messaging.conftest import Bus
from tests.messaging.test_relay import serving, wait_connected

T = TypeVar("T")


@asynccontextmanager
async def running(bus: Bus, database_url: str) -> AsyncIterator[None]:
    """The app with its consumers, connected to the test exchange."""
    async with serving(bus.settings, database_url) as (_, client):
        await wait_connected(client)
        yield


def envelope(
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
    correlation_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Bloodbank's EventEnvelope, as its Python publisher builds it."""
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "timestamp": datetime.now(UTC).isoformat(),
        "version": "1.0.0",
        "source": {"host": "test", "type": "manual", "app": "pytest", "meta": None},
        "correlation_ids": correlation_ids or [],
        "agent_context": None,
        "payload": payload,
    }


def v2_envelope(event_type: str, payload: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    """The v2 contract's envelope (``metadata.correlation_id``)."""
    return {
        "event_type": event_type,
        "timestamp": datetime.now(UTC).isoformat(),
        "source": {"host": "test", "type": "component", "app": "pytest"},
        "payload": payload,
        "metadata": {"correlation_id": correlation_id, "version": "2.0.0"},
    }


async def until(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 10.0
) -> T:
    """Poll ``probe`` until ``check`` accepts its value; fail with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {value!r}")
        await asyncio.sleep(0.05)


async def processed_count(sessions: async_sessionmaker[AsyncSession], consumer: str) -> int:
    async with sessions() as s:
        stmt = select(func.count()).where(ProcessedMessage.consumer == consumer)  # type: ignore[arg-type]
        return int(await s.scalar(stmt) or 0)


async def wait_processed(
    sessions: async_sessionmaker[AsyncSession], consumer: str, count: int, timeout: float = 10.0
) -> None:
    await until(lambda: processed_count(sessions, consumer), lambda n: n >= count, timeout)


async def event_types(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as s:
        stmt = select(Event.event_type).order_by(Event.id)  # type: ignore[arg-type]
        return list((await s.execute(stmt)).scalars())


async def dead_letters(bus: Bus, queue: str, count: int, timeout: float = 10.0) -> list[Any]:
    """Take ``count`` messages from ``<prefix><queue>.dlq`` (declared passively: iMi owns it)."""
    dlq = await bus.channel.declare_queue(f"{bus.prefix}{queue}.dlq", passive=True)
    taken: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def take() -> int:
        message = await dlq.get(no_ack=True, fail=False)
        if message is not None:
            taken.append(message)
        return len(taken)

    await until(take, lambda n: n >= count, timeout)
    return taken


def tapped(bus: Bus, key: str) -> list[tuple[aio_pika.abc.AbstractIncomingMessage, Any]]:
    """What the test's tap queue received with this routing key, bodies decoded."""
    return [(m, json.loads(m.body)) for m in bus.tap.messages if m.routing_key == key]


async def wait_tapped(bus: Bus, key: str, count: int = 1, timeout: float = 15.0) -> list[Any]:
    await until(lambda: asyncio.sleep(0, tapped(bus, key)), lambda m: len(m) >= count, timeout)
    return tapped(bus, key)
