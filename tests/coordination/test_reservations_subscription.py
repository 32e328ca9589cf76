"""reservationChanged: committed reservation events (made over REST) as typed results, in
order, filtered by intermute project and agent; a restricted key sees its own project only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.auth.keys import create_key
from imi.auth.models import Scope
from tests.factories import make_project
from tests.graphql.test_subscriptions import LiveServer, Subscriber
from tests.graphql.test_subscriptions import live as live_fixture

live = live_fixture

URL = "/api/reservations"
CHANGED = """
subscription Changed($project: String, $agentId: String) {
  reservationChanged(project: $project, agentId: $agentId) {
    type
    reservation {
      id agentId project pathPattern exclusive reason createdAt expiresAt releasedAt
      releaseReason isActive
    }
  }
}
"""


@pytest.fixture(autouse=True)
async def _no_reservations(engine: AsyncEngine) -> AsyncIterator[None]:
    # file_reservations is not an ORM table, so the shared harness does not empty it.
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM file_reservations"))
    yield


@dataclass
class KeyedSubscriber(Subscriber):
    """A subscriber that authenticates in connection_init."""

    init: dict[str, Any] | None = None

    async def _run(self) -> None:
        transport = WebsocketsTransport(
            url=self.live.ws_url,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            init_payload=self.init or {},
        )
        try:
            async with Client(transport=transport) as session:
                request = GraphQLRequest(self.query, variable_values=self.variables)
                async for result in session.subscribe(request):
                    await self.received.put((asyncio.get_running_loop().time(), result))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc


async def reserve(
    http: httpx.AsyncClient, agent: str, project: str, pattern: str, **headers: str
) -> dict[str, Any]:
    body = {"agent_id": agent, "project": project, "path_pattern": pattern, "exclusive": True}
    response = await http.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def release(http: httpx.AsyncClient, made: dict[str, Any]) -> dict[str, Any]:
    response = await http.delete(f"{URL}/{made['id']}", headers={"X-Agent-ID": made["agent_id"]})
    assert response.status_code == 200, response.text
    released: dict[str, Any] = response.json()
    return released


def same_time(graphql: str, wire: str) -> bool:
    return datetime.fromisoformat(graphql) == datetime.fromisoformat(wire)


async def changed(subscriber: Subscriber) -> dict[str, Any]:
    _, result = await subscriber.next(timeout=30)
    event: dict[str, Any] = result["reservationChanged"]
    return event


async def test_reserve_and_release_arrive_typed_and_in_order(live: LiveServer) -> None:
    in_p1 = await Subscriber(live, CHANGED, {"project": "p1"}).start()
    of_a2 = await Subscriber(live, CHANGED, {"agentId": "a2"}).start()
    try:
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            await reserve(http, "a1", "p2", "src/**")  # another project: not for in_p1
            made = await reserve(http, "a1", "p1", "src/**")
            released = await release(http, made)
            theirs = await reserve(http, "a2", "p1", "docs/**")

        created = await changed(in_p1)
        assert created["type"] == "imi.reservation.created"
        reservation = created["reservation"]
        assert {k: reservation[k] for k in ("id", "agentId", "project", "pathPattern")} == {
            "id": made["id"],
            "agentId": "a1",
            "project": "p1",
            "pathPattern": "src/**",
        }
        assert reservation["exclusive"] is True and reservation["isActive"] is True
        assert reservation["releasedAt"] is None and reservation["releaseReason"] is None
        assert same_time(reservation["createdAt"], made["created_at"])
        assert same_time(reservation["expiresAt"], made["expires_at"])

        ended = await changed(in_p1)
        assert ended["type"] == "imi.reservation.released"
        assert ended["reservation"]["id"] == made["id"]
        assert ended["reservation"]["isActive"] is False
        assert ended["reservation"]["releaseReason"] == "released"
        assert same_time(ended["reservation"]["releasedAt"], released["released_at"])
        assert (await changed(in_p1))["reservation"]["id"] == theirs["id"]

        # The agent filter: a1's three events (both projects) never reach a2's subscriber.
        only = await changed(of_a2)
        assert only["type"] == "imi.reservation.created"
        assert only["reservation"]["id"] == theirs["id"]
        assert of_a2.received.empty() and in_p1.received.empty()
    finally:
        await in_p1.close()
        await of_a2.close()


async def test_a_restricted_key_sees_only_its_project(
    live: LiveServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        project = await make_project(session)
        key = await create_key(session, name="agents", scope=Scope.READ, project_ids=[project.id])
    mine = str(project.id)
    init = {"authorization": f"Bearer {key.secret}"}
    # No project named: the key's one project.
    scoped = await KeyedSubscriber(live, CHANGED, None, init=init).start()
    refused = KeyedSubscriber(live, CHANGED, {"project": "elsewhere"}, init=init)
    await refused.start()
    try:
        await live.until(lambda: refused.error is not None)
        assert isinstance(refused.error, TransportQueryError)
        assert "not allowed on project elsewhere" in str(refused.error)
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            await reserve(http, "a1", "elsewhere", "src/**")  # not delivered
            await reserve(http, "a1", "", "src/**")  # nor the empty project
            made = await reserve(http, "a1", mine, "src/**")
        event = await changed(scoped)
        assert event["reservation"]["id"] == made["id"]
        assert event["reservation"]["project"] == mine
        assert scoped.received.empty()
    finally:
        await scoped.close()
        await refused.close()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"project": "p" * 201}, "project is longer than 200 characters"),
        ({"agentId": "a" * 201}, "agent_id is longer than 200 characters"),
        ({"project": str(uuid.uuid4()), "agentId": "a\x00"}, "NUL"),
    ],
)
async def test_bad_filters_are_errors_before_subscribing(
    live: LiveServer, variables: dict[str, str], message: str
) -> None:
    subscriber = Subscriber(live, CHANGED, variables)
    await subscriber.start()
    await live.until(lambda: subscriber.error is not None)
    assert isinstance(subscriber.error, TransportQueryError)
    assert message in str(subscriber.error)
    assert live.hub.subscriber_count == 0
