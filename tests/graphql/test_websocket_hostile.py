"""Hostile WebSocket clients (issue 13): malformed frames, too many sockets or subscriptions,
sockets that close, and /health while many subscriptions are set up. A live uvicorn server
(tests/graphql/test_subscriptions.py); raw frames through the `websockets` client."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection, connect

from imi.app import create_app
from imi.auth.keys import create_key
from imi.auth.models import Scope
from imi.graphql.context import Context
from tests.graphql.conftest import settings
from tests.graphql.test_subscriptions import LiveServer, serving

Sessions = async_sessionmaker[AsyncSession]
PROTOCOL = "graphql-transport-ws"
EVENTS = "subscription { events { eventType } }"


@asynccontextmanager
async def live_server(database_url: str, **overrides: Any) -> AsyncIterator[LiveServer]:
    async with serving(create_app(settings(**overrides), database_url)) as (live, _):
        yield live


@pytest.fixture
async def live(database_url: str, engine: Any) -> AsyncIterator[LiveServer]:
    async with live_server(database_url) as server:
        yield server


@asynccontextmanager
async def socket(
    live: LiveServer, *, source: str = "127.0.0.1", init: dict[str, Any] | None = None
) -> AsyncIterator[ClientConnection]:
    """A raw graphql-transport-ws socket, from ``source`` (any 127.x address is loopback)."""
    async with connect(
        live.ws_url,
        subprotocols=[PROTOCOL],
        local_addr=(source, 0),
        open_timeout=20,  # type: ignore[list-item]
    ) as ws:
        if init is not None:
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            assert json.loads(await receive(ws))["type"] == "connection_ack"
        yield ws


async def receive(ws: ClientConnection, timeout: float = 10) -> str:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str)
    return message


async def closed(ws: ClientConnection, timeout: float = 10) -> tuple[int | None, str | None]:
    """The close code and reason the server sent (messages before the close are skipped)."""
    with pytest.raises(Exception):  # noqa: B017 (ConnectionClosed*)
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code, ws.close_reason


def subscribe(id_: str, query: str = EVENTS, **payload: Any) -> str:
    return json.dumps({"type": "subscribe", "id": id_, "payload": {"query": query, **payload}})


async def subscribed(live: LiveServer, count: int, timeout: float = 10) -> None:
    await live.until(lambda: live.hub.subscriber_count == count, timeout=timeout)


MALFORMED = [
    "[1,2]",
    "null",
    '"x"',
    "1",
    "{",
    '{"type": 5}',
    '{"id": "1"}',
    '{"type": "subscribe", "id": "1", "payload": null}',
    '{"type": "subscribe", "id": "1"}',
    '{"type": "subscribe", "id": 1, "payload": {"query": "subscription { events { eventType } }"}}',
    '{"type": "subscribe", "id": ["x"], "payload": {"query": "{ stats { totalProjects } }"}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ x }", "extensions": 1}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ x }", "variables": [1]}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ x }", "operationName": 1}}',
    '{"type": "complete"}',
    '{"type": "complete", "id": {}}',
    '{"type": "ping", "payload": 3}',
    '{"type": "no-such-type"}',
    "[" * 10_000 + "]" * 10_000,
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ x }", "variables": {"v": '
    + "9" * 5000
    + "}}}",
]


@pytest.mark.parametrize("frame", MALFORMED, ids=range(len(MALFORMED)))
async def test_a_malformed_frame_closes_with_4400_and_no_traceback(
    live: LiveServer, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with socket(live, init={}) as ws:
        await ws.send(frame)
        code, reason = await closed(ws)
    assert code == 4400, (code, reason)
    assert reason
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert tracebacks == []
    await live.until(lambda: live.app.state.graphql_sockets.connections == 0)


async def test_binary_and_pre_init_frames(live: LiveServer) -> None:
    async with socket(live) as ws:
        await ws.send(b"\x00\x01")
        assert (await closed(ws))[0] == 4400
    async with socket(live) as ws:
        await ws.send(subscribe("1"))  # before connection_init
        assert (await closed(ws))[0] == 4401
    async with socket(live) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": "x"}))
        assert (await closed(ws))[0] == 4400


async def test_connection_init_payload_may_be_null_or_absent(live: LiveServer) -> None:
    for init in ({"type": "connection_init", "payload": None}, {"type": "connection_init"}):
        async with socket(live) as ws:
            await ws.send(json.dumps(init))
            assert json.loads(await receive(ws))["type"] == "connection_ack"


async def test_the_socket_still_serves_after_a_refused_operation(live: LiveServer) -> None:
    """Limits that concern one operation answer that operation; the socket stays."""
    async with socket(live, init={}) as ws:
        big = "subscription { events { eventType } }" + " " * 100_001
        await ws.send(subscribe("big", big))
        message = json.loads(await receive(ws))
        assert message["type"] == "error" and message["id"] == "big"
        assert message["payload"][0]["extensions"]["code"] == "TOO_LARGE"
        deep: Any = 1
        for _ in range(100):
            deep = [deep]
        await ws.send(subscribe("deep", variables={"v": deep}))
        message = json.loads(await receive(ws))
        assert message["type"] == "error" and message["id"] == "deep"
        assert message["payload"][0]["extensions"]["field"] == "variables"
        await ws.send(subscribe("ok"))
        await subscribed(live, 1)


async def test_connections_per_address_are_capped(database_url: str, engine: Any) -> None:
    async with live_server(database_url, ws_max_connections_per_client=2) as live:
        async with AsyncExitStack() as stack:
            for _ in range(2):
                await stack.enter_async_context(socket(live, init={}))
            async with socket(live) as third:
                code, reason = await closed(third)
                assert (code, reason) == (4429, "too many connections from this address")
            # Another address is not counted with this one.
            await stack.enter_async_context(socket(live, source="127.0.0.2", init={}))
        # Closed sockets are no longer counted.
        await live.until(lambda: live.app.state.graphql_sockets.connections == 0)
        async with socket(live, init={}), socket(live, init={}):
            pass


async def test_connections_per_process_are_capped(database_url: str, engine: Any) -> None:
    async with (
        live_server(database_url, ws_max_connections=2) as live,
        socket(live, init={}),
        socket(live, source="127.0.0.2", init={}),
        socket(live, source="127.0.0.3") as third,
    ):
        assert await closed(third) == (4429, "too many connections to this server")


async def test_connections_per_key_are_capped(
    database_url: str, engine: Any, sessions: Sessions
) -> None:
    async with sessions() as session, session.begin():
        first = await create_key(session, name="ws", scope=Scope.READ)
        other = await create_key(session, name="ws2", scope=Scope.READ)
    overrides = {"auth": "required", "ws_max_connections_per_client": 2}
    async with live_server(database_url, **overrides) as live:
        init = {"authorization": f"Bearer {first.secret}"}
        async with (
            socket(live, source="127.0.0.2", init=init),
            socket(live, source="127.0.0.3", init=init),
        ):
            async with socket(live, source="127.0.0.4") as third:
                await third.send(json.dumps({"type": "connection_init", "payload": init}))
                assert await closed(third) == (4429, "too many connections for this key")
            async with socket(live, source="127.0.0.4", init={"apiKey": other.secret}):
                pass
        await live.until(lambda: live.app.state.graphql_sockets.by_subject == {})


async def test_subscriptions_per_connection_and_per_process_are_capped(
    database_url: str, engine: Any
) -> None:
    overrides = {"ws_max_subscriptions_per_connection": 2, "ws_max_subscriptions": 3}
    async with live_server(database_url, **overrides) as live:
        async with socket(live, init={}) as ws, socket(live, init={}) as other:
            for id_ in ("1", "2", "3"):
                await ws.send(subscribe(id_))
            message = json.loads(await receive(ws))
            assert message == {
                "id": "3",
                "type": "error",
                "payload": [{"message": "Subscription limit reached"}],
            }
            await subscribed(live, 2)
            await other.send(subscribe("a"))
            await subscribed(live, 3)
            await other.send(subscribe("b"))  # the process holds 3
            message = json.loads(await receive(other))
            assert message["id"] == "b" and message["type"] == "error"
            assert "limit of this server" in message["payload"][0]["message"]
            await ws.send(json.dumps({"type": "complete", "id": "1"}))
            await subscribed(live, 2)
            await live.until(lambda: live.app.state.graphql_sockets.subscriptions == 2)
            await other.send(subscribe("b"))
            await subscribed(live, 3)
        await live.until(lambda: live.app.state.graphql_sockets.subscriptions == 0)


def live_contexts() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Context))


async def test_closed_sockets_leave_nothing_behind(live: LiveServer) -> None:
    """200 sockets with 5 subscriptions each: once closed, no context, hub subscription,
    count or task of theirs remains."""
    before_contexts = live_contexts()
    before_tasks = len(asyncio.all_tasks())
    async with AsyncExitStack() as stack:
        for n in range(200):
            ws = await stack.enter_async_context(
                socket(live, source=f"127.0.1.{n % 4 + 1}", init={})
            )
            for k in range(5):
                await ws.send(subscribe(str(k)))
        await subscribed(live, 1000, timeout=60)
        assert live.app.state.graphql_sockets.connections == 200
    await live.until(lambda: live.hub.subscriber_count == 0, timeout=30)
    counts = live.app.state.graphql_sockets
    await live.until(lambda: counts.connections == 0 and counts.subscriptions == 0, timeout=30)
    assert dict(counts.by_address) == {} and dict(counts.by_subject) == {}
    await live.until(lambda: len(asyncio.all_tasks()) <= before_tasks + 2, timeout=30)
    assert live_contexts() <= before_contexts + 1


async def test_health_stays_responsive_while_many_subscriptions_are_set_up(
    database_url: str, engine: Any
) -> None:
    """50 sockets each send 100 subscribe frames at once (5,000 subscriptions) while /health is
    polled. Before, every frame of the burst started its operation in one turn of the loop
    and /health waited for all of them (14.7 s with 10,000). The bound is generous: the
    client's work shares this process and loop."""
    async with live_server(database_url, ws_max_connections_per_client=0) as live:
        latencies: list[float] = []
        done = asyncio.Event()

        async def poll() -> None:
            async with httpx.AsyncClient(base_url=live.http_url, timeout=60) as http:
                while not done.is_set():
                    started = time.monotonic()
                    response = await http.get("/health")
                    latencies.append(time.monotonic() - started)
                    assert response.status_code == 200
                    await asyncio.sleep(0.05)

        poller = asyncio.create_task(poll())
        async with AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(socket(live, init={})) for _ in range(50)]
            await asyncio.sleep(0.2)
            for ws in sockets:
                for k in range(100):
                    await ws.send(subscribe(str(k)))
            await subscribed(live, 5000, timeout=120)
            done.set()
            await poller
        print(f"\n/health during 5,000 subscribes: max {max(latencies):.2f} s, n={len(latencies)}")
        assert len(latencies) >= 3
        assert max(latencies) < 5
