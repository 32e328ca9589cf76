"""The service through database failures (issue 17): the whole app, in process, reaching
PostgreSQL through a TCP proxy the test cuts and restores.

- connections killed (``pg_terminate_backend`` on every backend of the app): the next reads and
  writes succeed, none answered 503;
- the database unreachable for 10 s: ``/health`` 503 fast with the breaker open, every request
  (REST read and write, GraphQL) a 503 envelope with ``Retry-After`` within a bound, 50
  concurrent requests each within 1 s; then full recovery within 5 s of the database returning,
  with no manual action;
- a command consumed while the database is away is held, not dead-lettered, and takes effect
  when it returns.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.messaging.topology import QUEUES
from imi.settings import Settings
from tests.api.conftest import API, error, ok
from tests.messaging.conftest import Bus, bus, rabbitmq_url  # noqa: F401 (fixtures)
from tests.messaging.consumers_support import envelope, tapped, wait_tapped
from tests.messaging.test_relay import serving, wait_connected
from tests.ops.proxy import TcpProxy, database_port, via

OUTAGE_SECONDS = 10.0
RECOVERY_SECONDS = 5.0  # the claim: healed this long after the database returns
FAIL_FAST_SECONDS = 1.0  # one request's answer while the breaker is open (tolerant)
CONSUMER_OUTAGE_SECONDS = 7.0


@dataclass
class Proxied:
    client: httpx.AsyncClient
    proxy: TcpProxy


@pytest.fixture
async def proxied(database_url: str, engine: AsyncEngine) -> AsyncIterator[Proxied]:
    # `engine`: the test database is emptied first. Default breaker settings: what ships.
    proxy = TcpProxy(database_port(database_url))
    await proxy.start()
    settings = Settings(_env_file=None, rabbitmq_url=None, rate_limit_per_minute=0)
    app = create_app(settings, via(database_url, proxy.port))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
        ):
            yield Proxied(client, proxy)
    finally:
        await proxy.cut()


def _origin() -> dict[str, str]:
    return {"remote_origin": f"git@github.com:ops/{uuid.uuid4().hex[:12]}.git"}


async def _write(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(f"{API}/projects", json=_origin())


async def test_killed_connections_heal_unseen_for_reads_and_writes(
    proxied: Proxied, engine: AsyncEngine
) -> None:
    client = proxied.client
    ok(await _write(client), 201)
    # Several pooled connections, so the kill hits more than one.
    await asyncio.gather(*(client.get(f"{API}/projects") for _ in range(5)))
    ports = set(proxied.proxy.upstream_ports)
    async with engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE client_port = ANY(:ports)"
            ),
            {"ports": sorted(ports)},
        )
    assert killed and killed >= 1
    # pg_terminate_backend only signals: wait until the backends are gone and their links
    # closed (a request racing the kill itself may meet a dying connection: a read is retried,
    # a write answers one 503, never a 500; see the README).
    deadline = time.monotonic() + 30
    while proxied.proxy.live_ports & ports and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not proxied.proxy.live_ports & ports
    await asyncio.sleep(0.05)  # the driver reads the close on its next loop turns
    statuses = []
    for _ in range(3):  # writes first: they are not retried, so they must not meet a dead one
        statuses.append((await _write(client)).status_code)
        statuses.append((await client.get(f"{API}/projects")).status_code)
    assert statuses == [201, 200] * 3
    assert (await client.get("/health")).status_code == 200


async def _timed(request: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await request
    return time.monotonic() - started, response


def _is_outage_answer(response: httpx.Response) -> None:
    assert "Traceback" not in response.text and "asyncpg" not in response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 5
    if response.request.url.path == "/graphql":
        assert response.status_code == 503, response.text
        [gql_error] = response.json()["errors"]
        assert gql_error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        return
    err = error(response, 503, "SERVICE_UNAVAILABLE")
    assert err["details"] == {"retry_after": retry_after}


async def test_an_unreachable_database_fails_fast_then_heals_on_its_own(
    proxied: Proxied,
) -> None:
    client, proxy = proxied.client, proxied.proxy
    ok(await _write(client), 201)

    await proxy.cut()
    cut_at = time.monotonic()
    # The first requests find the database gone (their connects are refused, retried with
    # back-off) and open the breaker; none hangs, none is a 500.
    for request in (client.get(f"{API}/projects"), _write(client)):
        took, response = await _timed(request)
        _is_outage_answer(response)
        assert took < 5.0, took
    health = await client.get("/health")
    assert health.status_code == 503
    assert health.json()["database"]["status"] == "down"
    assert health.json()["breaker"]["state"] in {"open", "half_open"}

    # The herd: 50 concurrent requests of every kind, each answered within the bound.
    kinds = [
        lambda: client.get(f"{API}/projects"),
        lambda: client.get(f"{API}/projects/{uuid.uuid4()}"),
        lambda: _write(client),
        lambda: client.post("/graphql", json={"query": "{ stats { totalProjects } }"}),
    ]
    answers = await asyncio.gather(*(_timed(kinds[i % 4]()) for i in range(50)))
    for _, response in answers:
        _is_outage_answer(response)
    slowest = max(took for took, _ in answers)
    assert slowest < FAIL_FAST_SECONDS, slowest

    # The rest of the outage: health keeps answering fast, and says why.
    while time.monotonic() - cut_at < OUTAGE_SECONDS:
        took, health = await _timed(client.get("/health"))
        assert health.status_code == 503 and took < FAIL_FAST_SECONDS, (took, health.text)
        await asyncio.sleep(0.5)

    await proxy.start()  # the database is back
    back_at = time.monotonic()
    while True:
        response = await client.get(f"{API}/projects")
        if response.status_code == 200:
            break
        _is_outage_answer(response)
        assert time.monotonic() - back_at < RECOVERY_SECONDS, "not healed in time"
        await asyncio.sleep(0.1)
    healed = time.monotonic() - back_at
    assert healed < RECOVERY_SECONDS, healed
    ok(await _write(client), 201)
    health = await client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["breaker"]["state"] == "closed"
    assert health.json()["breaker"]["opened_total"] >= 1
    projects = ok(await client.get(f"{API}/projects"))
    assert isinstance(projects, list) and len(projects) == 2  # one before, one after


async def test_a_consumer_holds_its_message_while_the_database_is_away(
    bus: Bus,  # noqa: F811
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """With nacks, the old path would dead-letter within ~5 s (5 deliveries, pauses up to 2 s);
    held in place, the command waits out a longer outage and takes effect once it ends."""
    proxy = TcpProxy(database_port(database_url))
    await proxy.start()
    origin = f"git@github.com:held/{uuid.uuid4().hex[:10]}.git"
    try:
        async with serving(bus.settings, via(database_url, proxy.port)) as (_, client):
            await wait_connected(client)
            await proxy.cut()
            await bus.publish(
                "imi.cmd.register_project",
                envelope("imi.cmd.register_project", {"remote_origin": origin}),
            )
            await asyncio.sleep(CONSUMER_OUTAGE_SECONDS)  # the outage: no condition to wait on
            assert await _dead_lettered(bus) == 0
            assert tapped(bus, "imi.project.registered") == []
            await proxy.start()
            [(_, body)] = await wait_tapped(bus, "imi.project.registered", timeout=30)
        async with sessions() as session:
            stored = await session.scalar(
                text("SELECT count(*) FROM projects WHERE remote_origin = :o"), {"o": origin}
            )
        assert stored == 1 and body["payload"]["remote_origin"] == origin
        assert await _dead_lettered(bus) == 0
    finally:
        await proxy.cut()


async def _dead_lettered(test_bus: Bus) -> int:
    count = 0
    for spec in QUEUES:
        name = f"{test_bus.prefix}{spec.name}.dlq"
        dlq = await test_bus.channel.declare_queue(name, passive=True)
        count += dlq.declaration_result.message_count or 0
    return count
