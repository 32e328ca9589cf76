"""WorkItem.owner: the registered intermute agent named by the work item's ownerId (its agent id
or its name), null otherwise; one statement for any number of work items."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.coordination.agents import AgentIn, register_agent
from imi.work.models import WorkStart
from imi.work.service import start_work
from tests.coordination.conftest import GraphQL
from tests.coordination.test_agents import empty_coordination
from tests.graphql.test_subscriptions import new_project

Sessions = async_sessionmaker[AsyncSession]

OWNERS = """
query Owners($project: ID!, $first: Int) {
  workItems(projectId: $project, first: $first) {
    nodes { branchName ownerId owner { id online registrations { name project } } }
  }
}
"""


@pytest.fixture
async def clean(engine: AsyncEngine) -> AsyncIterator[None]:
    await empty_coordination(engine)
    yield


async def register(sessions: Sessions, name: str) -> str:
    async with sessions() as session, session.begin():
        agent = await register_agent(session, AgentIn(name=name, project="p"))
    return str(agent.id)


async def start(sessions: Sessions, project: uuid.UUID, branch: str, owner: str | None) -> None:
    async with sessions() as session, session.begin():
        await start_work(session, WorkStart(project_id=project, branch_name=branch, owner_id=owner))


def by_branch(result: dict[str, Any]) -> dict[str, Any]:
    return {node["branchName"]: node for node in result["workItems"]["nodes"]}


async def test_owner_by_name_by_agent_id_and_null(
    graphql: GraphQL, sessions: Sessions, clean: None
) -> None:
    project = await new_project(sessions, f"owner-{uuid.uuid4().hex[:6]}")
    await register(sessions, "builder")
    reviewer_id = await register(sessions, "reviewer")
    await start(sessions, project, "by-name", "builder")
    await start(sessions, project, "by-id", reviewer_id)
    await start(sessions, project, "human", "alice")  # no registration carries it
    await start(sessions, project, "nobody", None)
    nodes = by_branch(await graphql.run(OWNERS, {"project": str(project)}))
    assert nodes["by-name"]["owner"] == {
        "id": "builder",
        "online": True,
        "registrations": [{"name": "builder", "project": "p"}],
    }
    assert nodes["by-id"]["owner"]["id"] == reviewer_id
    assert nodes["by-id"]["owner"]["registrations"] == [{"name": "reviewer", "project": "p"}]
    assert nodes["human"]["ownerId"] == "alice" and nodes["human"]["owner"] is None
    assert nodes["nobody"]["ownerId"] is None and nodes["nobody"]["owner"] is None


async def test_owners_load_in_constant_statements(
    graphql: GraphQL, sessions: Sessions, clean: None
) -> None:
    project = await new_project(sessions, f"owners-{uuid.uuid4().hex[:6]}")
    for i in range(8):
        name = f"agent-{i}"
        if i % 2 == 0:  # half of the owners are registered agents
            await register(sessions, name)
        await start(sessions, project, f"b{i}", name)
    one, few = await graphql.counted(OWNERS, {"project": str(project), "first": 1})
    eight, many = await graphql.counted(OWNERS, {"project": str(project), "first": 8})
    assert len(one["workItems"]["nodes"]) == 1
    owners = {n["ownerId"]: n["owner"] for n in eight["workItems"]["nodes"]}
    assert len(owners) == 8
    for i in range(8):
        owner = owners[f"agent-{i}"]
        if i % 2 == 0:
            assert owner["id"] == f"agent-{i}" and owner["registrations"][0]["name"] == owner["id"]
        else:
            assert owner is None
    assert many == few, (few, many)
