"""Subscriptions authenticate in connection_init, are scoped like queries, and end when their
key is revoked (issue 12). A live server with IMI_AUTH=required."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.auth.keys import create_key, revoke_key
from imi.auth.models import Scope
from imi.projects.models import ProjectCreate, ProjectUpdate
from imi.projects.service import register_project, update_project
from tests.graphql.conftest import settings
from tests.graphql.test_subscriptions import LiveServer, serving

Sessions = async_sessionmaker[AsyncSession]
EVENTS = "subscription { events { eventType payload } }"


@pytest.fixture
async def live(database_url: str, engine: Any) -> AsyncIterator[LiveServer]:
    async with serving(create_app(settings(auth="required"), database_url)) as (server, _):
        yield server


async def key(sessions: Sessions, scope: Scope, projects: list[uuid.UUID] | None = None) -> Any:
    async with sessions() as session, session.begin():
        return await create_key(session, name="ws", scope=scope, project_ids=projects)


async def project(sessions: Sessions, slug: str) -> uuid.UUID:
    async with sessions() as session, session.begin():
        created = await register_project(
            session, ProjectCreate(remote_origin=f"git@github.com:acme/{slug}.git")
        )
    return created.project.id


async def collect(
    live: LiveServer, init: dict[str, Any] | None, into: asyncio.Queue[Any]
) -> BaseException | None:
    transport = WebsocketsTransport(
        url=live.ws_url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload=init or {},
    )
    try:
        async with Client(transport=transport) as session:
            async for result in session.subscribe(GraphQLRequest(EVENTS)):
                await into.put(result)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        return exc
    return None


async def test_a_subscription_needs_a_key_and_ends_when_it_is_revoked(
    live: LiveServer, sessions: Sessions
) -> None:
    results: asyncio.Queue[Any] = asyncio.Queue()
    refused = await asyncio.wait_for(collect(live, None, results), 10)
    assert refused is not None  # no key: connection_init rejected (4403)
    bad = await asyncio.wait_for(collect(live, {"authorization": "Bearer imi_0_x"}, results), 10)
    assert bad is not None

    created = await key(sessions, Scope.READ)
    task = asyncio.create_task(
        collect(live, {"authorization": f"Bearer {created.secret}"}, results)
    )
    try:
        await live.until(lambda: live.hub.subscriber_count == 1, timeout=30)
        await project(sessions, "seen")
        result = await asyncio.wait_for(results.get(), 30)
        assert result["events"]["eventType"] == "imi.project.registered"
        async with sessions() as session, session.begin():
            await revoke_key(session, created.key.id)
        error = await asyncio.wait_for(task, 30)
        assert isinstance(error, TransportQueryError) and "revoked" in str(error)
        assert live.hub.subscriber_count == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_project_scoped_subscription_sees_only_its_projects(
    live: LiveServer, sessions: Sessions
) -> None:
    mine = await project(sessions, "mine")
    scoped = await key(sessions, Scope.READ, [mine])
    results: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.create_task(collect(live, {"apiKey": scoped.secret}, results))
    try:
        await live.until(lambda: live.hub.subscriber_count == 1, timeout=30)
        await project(sessions, "theirs")  # not delivered
        async with sessions() as session, session.begin():
            await update_project(session, mine, ProjectUpdate(description="mine"))
        result = await asyncio.wait_for(results.get(), 5)
        assert result["events"]["eventType"] == "imi.project.updated"
        assert result["events"]["payload"]["project_id"] == str(mine)
        await asyncio.sleep(0.3)
        assert results.empty()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_operations_on_an_open_socket_stop_with_the_key(
    live: LiveServer, sessions: Sessions
) -> None:
    created = await key(sessions, Scope.WRITE)
    transport = WebsocketsTransport(
        url=live.ws_url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"authorization": f"Bearer {created.secret}"},
    )
    query = GraphQLRequest("{ projects { totalCount } }")
    async with Client(transport=transport) as session:
        assert (await session.execute(query))["projects"]["totalCount"] == 0
        async with sessions() as s, s.begin():
            await revoke_key(s, created.key.id)
        await asyncio.sleep(1.2)  # past the credential cache
        with pytest.raises(TransportQueryError, match="revoked"):
            await session.execute(query)


async def test_a_restricted_subscription_outlives_a_quiet_spell(
    live: LiveServer, sessions: Sessions
) -> None:
    mine = await project(sessions, "quiet")
    scoped = await key(sessions, Scope.READ, [mine])
    results: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.create_task(collect(live, {"apiKey": scoped.secret}, results))
    try:
        await live.until(lambda: live.hub.subscriber_count == 1, timeout=30)
        await asyncio.sleep(2.5)  # several credential checks, each as the service itself
        assert not task.done(), task.result()
        async with sessions() as session, session.begin():
            await update_project(session, mine, ProjectUpdate(description="still here"))
        result = await asyncio.wait_for(results.get(), 5)
        assert result["events"]["eventType"] == "imi.project.updated"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
