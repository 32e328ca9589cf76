"""The broker gone (issue 17): the service keeps serving writes over HTTP, ``/health`` stays 200
(degraded) and shows the outbox backlog and its age growing, and the events flow once the
broker returns, the backlog back to zero.

The relay's own outage behaviour (500 events committed while away, none lost; a link cut
mid-way) is tested in ``tests/messaging/test_relay.py::test_broker_outage_loses_no_event``; this
test is the operator's view of it, through the API.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.app import create_app
from tests.api.conftest import API, ok
from tests.messaging.conftest import Bus, bus, rabbitmq_url  # noqa: F401 (fixtures)
from tests.ops.proxy import TcpProxy

BROKER_PORT = 5672


async def _health(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/health")
    assert response.status_code == 200, response.text  # the database is up: still serving
    body: dict[str, Any] = response.json()
    return body


async def _until(client: httpx.AsyncClient, check: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = await _health(client)
        if check(body):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def test_writes_go_on_while_the_broker_is_gone_and_the_backlog_shows_then_drains(
    bus: Bus,  # noqa: F811
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    proxy = TcpProxy(BROKER_PORT)
    await proxy.start()
    await proxy.cut()  # the port is kept, and refuses: the broker is away from the start
    settings = bus.settings.model_copy(
        update={
            "rabbitmq_url": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
            "rate_limit_per_minute": 0,
        }
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
        ):
            body = await _health(client)
            assert body["status"] == "degraded" and body["broker"]["status"] == "disconnected"
            for _ in range(5):
                origin = f"git@github.com:outage/{uuid.uuid4().hex[:10]}.git"
                ok(await client.post(f"{API}/projects", json={"remote_origin": origin}), 201)
            first = await _health(client)
            assert first["outbox"]["backlog"] >= 5
            # The oldest unpublished event ages while the broker stays away.
            await _until(
                client,
                lambda b: (
                    b["outbox"]["oldest_age_seconds"] > (first["outbox"]["oldest_age_seconds"] or 0)
                ),
            )
            assert bus.tap.messages == []

            await proxy.start()  # the broker is back
            drained = await _until(
                client,
                lambda b: b["broker"]["status"] == "connected" and b["outbox"]["backlog"] == 0,
            )
            assert drained["status"] == "ok" and drained["outbox"]["oldest_age_seconds"] is None
            async with sessions() as session:
                ids = set(await session.scalars(text("SELECT event_id::text FROM events")))
            assert len(ids) >= 5
            await bus.tap.wait_for(len(ids), timeout=30)
            assert {b["event_id"] for b in bus.tap.bodies()} == ids  # each once, none missing
            assert len(bus.tap.messages) == len(ids)
    finally:
        await proxy.cut()
