"""Events a SQL function writes are published by the relay, like the service's own."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.messaging.bus import EventBus
from tests.messaging.conftest import Bus, bus, rabbitmq_url  # noqa: F401  (real RabbitMQ)
from tests.sql.conftest import CORRELATION, plain_url


async def test_a_functions_events_reach_the_broker(
    bus: Bus,  # noqa: F811
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    relay_bus = EventBus(bus.settings, sessions, database_url=database_url)
    await relay_bus.start()
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = time.monotonic() + 30
        while not (relay_bus.connected.is_set() and relay_bus.relay.listening):
            assert time.monotonic() < deadline, "the relay never connected"
            await asyncio.sleep(0.05)
        async with conn.transaction():
            await conn.execute(f"SET LOCAL imi.correlation_id = '{CORRELATION}'")
            project_id = await conn.fetchval(
                "SELECT register_project('relayed', 'git@github.com:acme/relayed.git')"
            )
            await conn.fetchval(
                "SELECT register_worktree($1, 'fix', 'fix-a', 'fix/a', '/srv/a', 'agent-1')",
                project_id,
            )
        messages = await bus.tap.wait_for(3, timeout=30)
        stored = await conn.fetch(
            "SELECT event_id, routing_key, envelope::text AS envelope, published_at"
            " FROM events ORDER BY id"
        )
        assert [m.routing_key for m in messages] == [
            "imi.project.registered",
            "imi.work.started",
            "imi.worktree.created",
        ]
        for message, row in zip(messages, stored, strict=True):
            assert message.message_id == str(row["event_id"])
            assert message.correlation_id == CORRELATION
            assert json.loads(message.body) == json.loads(row["envelope"])
        while any(r["published_at"] is None for r in stored):  # the relay marks them sent
            assert time.monotonic() < deadline + 30, "events never marked published"
            await asyncio.sleep(0.05)
            stored = await conn.fetch("SELECT published_at FROM events")
        body = json.loads(messages[0].body)
        assert body["payload"]["project_id"] == str(project_id)
        assert body["metadata"] == {"correlation_id": CORRELATION, "version": "1.0.0"}
    finally:
        await conn.close()
        await relay_bus.stop()


async def test_a_functions_event_is_notified_on_commit(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The NOTIFY trigger (migration 0002) fires for a function's rows: live subscriptions
    and a sleeping relay wake up."""
    listener = await asyncpg.connect(plain_url(database_url))
    writer = await asyncpg.connect(plain_url(database_url))
    notified: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("imi_events", lambda *args: notified.put_nowait(args[3]))
    try:
        await writer.fetchval("SELECT register_project(NULL, 'git@github.com:acme/notify.git')")
        row_id = await asyncio.wait_for(notified.get(), timeout=30)
        assert row_id == str(await writer.fetchval("SELECT max(id) FROM events"))
    finally:
        await listener.close()
        await writer.close()
