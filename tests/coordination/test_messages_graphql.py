"""intermute agents and messages in GraphQL: Agent registrations, liveness and inbox counts
(batched: statements do not grow with the agents), sendMessage, agentMessages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.coordination.agents import AgentIn, register_agent
from imi.coordination.messages import MessageIn, send_message
from imi.work.models import WorkStart
from imi.work.service import start_work
from tests.coordination.conftest import GraphQL
from tests.coordination.test_agents import empty_coordination
from tests.graphql.test_subscriptions import LiveServer, Subscriber, new_project
from tests.graphql.test_subscriptions import live as live_fixture

live = live_fixture

AGENT = """
query Agent($id: ID!) {
  agent(id: $id) {
    id online lastSeen inbox { total unread unacked }
    registrations { agentId name project capabilities metadata status online }
  }
}
"""
SEND = """
mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) {
    __typename
    ... on SendMessagePayload { messageId cursor created }
    ... on ValidationError { message field }
  }
}
"""
FRAMES = """
subscription Frames($agent: String!, $project: String) {
  agentMessages(agent: $agent, project: $project) { type project messageId cursor agent }
}
"""


@pytest.fixture
async def clean(engine: AsyncEngine) -> AsyncIterator[None]:
    await empty_coordination(engine)
    yield


async def seed(sessions: async_sessionmaker[AsyncSession], name: str) -> str:
    async with sessions() as session, session.begin():
        agent = await register_agent(
            session, AgentIn(name=name, project="p", capabilities=["go"], metadata={"k": "v"})
        )
        await send_message(
            session, MessageIn(sender="boss", to=[name], project="p", ack_required=True)
        )
    return str(agent.id)


async def test_agent_shows_registration_liveness_and_inbox(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession], clean: None
) -> None:
    agent_id = await seed(sessions, "reviewer")
    result = await graphql.run(AGENT, {"id": "reviewer"})
    agent = result["agent"]
    assert agent["id"] == "reviewer" and agent["online"] is True and agent["lastSeen"]
    assert agent["inbox"] == {"total": 1, "unread": 1, "unacked": 1}
    assert agent["registrations"] == [
        {
            "agentId": agent_id,
            "name": "reviewer",
            "project": "p",
            "capabilities": ["go"],
            "metadata": {"k": "v"},
            "status": "",
            "online": True,
        }
    ]
    # By agent id too; an unknown owner is null.
    assert (await graphql.run(AGENT, {"id": agent_id}))["agent"]["registrations"][0]["name"] == (
        "reviewer"
    )
    assert (await graphql.run(AGENT, {"id": "nobody"}))["agent"] is None
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE agents SET last_seen = now() - interval '1 hour'"))
    assert (await graphql.run(AGENT, {"id": "reviewer"}))["agent"]["online"] is False


async def test_many_agents_load_in_constant_statements(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession], clean: None
) -> None:
    """Work item owners are agents: their registrations and inboxes come through loaders, so
    six agents cost the statements one does."""
    project = await new_project(sessions, f"owners-{uuid.uuid4().hex[:6]}")
    names = [f"agent-{i}" for i in range(6)]
    async with sessions() as session, session.begin():
        for i, name in enumerate(names):
            await start_work(
                session, WorkStart(project_id=project, branch_name=f"b{i}", owner_id=name)
            )
    for name in names:
        await seed(sessions, name)
    fields = "online lastSeen inbox { total unacked } registrations { name project }"

    def query(count: int) -> str:
        aliases = " ".join(f'a{i}: agent(id: "{names[i]}") {{ {fields} }}' for i in range(count))
        return f"query {{ {aliases} }}"

    one, few = await graphql.counted(query(1))
    six, many = await graphql.counted(query(6))
    assert one["a0"]["registrations"] == [{"name": "agent-0", "project": "p"}]
    assert [six[f"a{i}"]["registrations"][0]["name"] for i in range(6)] == names
    assert all(six[f"a{i}"]["inbox"] == {"total": 1, "unacked": 1} for i in range(6))
    assert many == few, (few, many)


async def test_send_message_mutation(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession], clean: None
) -> None:
    message: dict[str, Any] = {"from": "a", "to": ["b"], "project": "p", "id": "g1", "body": "1"}
    first = (await graphql.run(SEND, {"input": message}))["sendMessage"]
    assert first["__typename"] == "SendMessagePayload" and first["created"] is True
    again = (await graphql.run(SEND, {"input": {**message, "body": "2"}}))["sendMessage"]
    assert again == {**first, "created": False}
    async with sessions() as session:
        body = (await session.execute(text("SELECT body FROM messages"))).scalar_one()
    assert body == "2"
    empty = (await graphql.run(SEND, {"input": {**message, "to": []}}))["sendMessage"]
    assert empty == {
        "__typename": "ValidationError",
        "message": "to needs at least one recipient",
        "field": "to",
    }


async def test_agent_messages_subscription(live: LiveServer, clean: None) -> None:
    subscriber = await Subscriber(live, FRAMES, {"agent": "b", "project": "p"}).start()
    try:
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            response = await http.post(
                "/graphql",
                json={
                    "query": SEND,
                    "variables": {"input": {"from": "a", "to": ["b"], "project": "p"}},
                },
            )
        result = response.json()["data"]
        _, frame = await subscriber.next(timeout=30)
        assert frame["agentMessages"] == {
            "type": "message.created",
            "project": "p",
            "messageId": result["sendMessage"]["messageId"],
            "cursor": result["sendMessage"]["cursor"],
            "agent": "b",
        }
    finally:
        await subscriber.close()
