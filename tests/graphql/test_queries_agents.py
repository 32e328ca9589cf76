"""agent(id:) with its work and activities, Activity nodes, and stats."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.activities.models import Activity, ActivityCreate, ActivityType
from imi.activities.service import log_activity
from imi.graphql.ids import to_global_id
from imi.stats.service import Stats
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL


@dataclass
class Agents:
    w1: WorkItem
    w2: WorkItem
    done: WorkItem
    activities: list[Activity]  # agent-1's, oldest first


@pytest.fixture
async def a(sessions: async_sessionmaker[AsyncSession]) -> Agents:
    async with sessions() as session, session.begin():
        project = await make_project(session, name="app")
        w1 = await make_work_item(session, project, branch_name="feat/one", owner_id="agent-1")
        w2 = await make_work_item(
            session, project, branch_name="fix/two", work_type="fix", owner_id="agent-1"
        )
        done = await make_work_item(
            session, project, branch_name="feat/old", owner_id="agent-1", active=False
        )
        await make_work_item(session, project, branch_name="feat/other", owner_id="agent-2")
        activities = []
        for i, work in enumerate([w1, w2, w1]):
            data = ActivityCreate(
                agent_id="agent-1",
                work_item_id=work.id,
                activity_type=ActivityType.MODIFIED,
                description=f"step {i}",
            )
            activities.append(await log_activity(session, data))
        await log_activity(
            session, ActivityCreate(agent_id="reviewer", activity_type=ActivityType.OTHER)
        )
    return Agents(w1, w2, done, activities)


AGENT = """
query ($id: ID!, $filter: WorkItemFilter, $first: Int, $after: String) {
  agent(id: $id) {
    id
    workItems(filter: $filter) { totalCount nodes { branchName ownerId } }
    activities(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id description workItem { branchName } }
    }
  }
}
"""


async def agent(graphql: GraphQL, **variables: Any) -> Any:
    return (await graphql.run(AGENT, variables))["agent"]


async def test_agent_work_and_activities(graphql: GraphQL, a: Agents) -> None:
    result = await agent(graphql, id="agent-1", first=2)
    assert result["id"] == "agent-1"
    assert result["workItems"]["totalCount"] == 3
    assert {w["branchName"] for w in result["workItems"]["nodes"]} == {
        "feat/one",
        "fix/two",
        "feat/old",
    }
    assert {w["ownerId"] for w in result["workItems"]["nodes"]} == {"agent-1"}

    page = result["activities"]
    assert page["totalCount"] == 3
    assert [n["description"] for n in page["nodes"]] == ["step 2", "step 1"]  # newest first
    assert page["nodes"][0]["workItem"] == {"branchName": "feat/one"}
    assert page["nodes"][1]["id"] == to_global_id("Activity", a.activities[1].id)
    assert page["pageInfo"]["hasNextPage"] is True

    rest = await agent(graphql, id="agent-1", first=2, after=page["pageInfo"]["endCursor"])
    assert [n["description"] for n in rest["activities"]["nodes"]] == ["step 0"]
    assert rest["activities"]["pageInfo"]["hasNextPage"] is False


async def test_agent_work_filter(graphql: GraphQL, a: Agents) -> None:
    active = await agent(graphql, id="agent-1", filter={"active": True})
    assert active["workItems"]["totalCount"] == 2
    bugs = await agent(graphql, id="agent-1", filter={"workType": "FIX"})
    assert [w["branchName"] for w in bugs["workItems"]["nodes"]] == ["fix/two"]


async def test_agent_known_only_by_activity_or_by_work(graphql: GraphQL, a: Agents) -> None:
    reviewer = await agent(graphql, id="reviewer")
    assert reviewer["workItems"]["totalCount"] == 0
    assert reviewer["activities"]["totalCount"] == 1
    assert reviewer["activities"]["nodes"][0]["workItem"] is None
    other = await agent(graphql, id="agent-2")
    assert (other["workItems"]["totalCount"], other["activities"]["totalCount"]) == (1, 0)


@pytest.mark.parametrize("agent_id", ["nobody", "", "AGENT-1"])
async def test_unknown_agent_is_null(graphql: GraphQL, a: Agents, agent_id: str) -> None:
    assert await agent(graphql, id=agent_id) is None


async def test_agents_in_one_query_batch_their_statements(graphql: GraphQL, a: Agents) -> None:
    query = """
    {
      one: agent(id: "agent-1") { workItems { totalCount } activities { totalCount } }
      two: agent(id: "agent-2") { workItems { totalCount } activities { totalCount } }
      three: agent(id: "reviewer") { workItems { totalCount } activities { totalCount } }
    }
    """
    result, count = await graphql.counted(query)
    assert [result[k]["workItems"]["totalCount"] for k in ("one", "two", "three")] == [3, 1, 0]
    # known agents, their work pages, their activity pages.
    assert count == 3, graphql.statements.seen


NODE = """
query ($id: ID!) {
  node(id: $id) { __typename id ... on Activity { agentId activityType description } }
}
"""


async def test_node_resolves_activities(graphql: GraphQL, a: Agents) -> None:
    activity = a.activities[0]
    node_id = to_global_id("Activity", activity.id)
    assert (await graphql.run(NODE, {"id": node_id}))["node"] == {
        "__typename": "Activity",
        "id": node_id,
        "agentId": "agent-1",
        "activityType": "MODIFIED",
        "description": "step 0",
    }
    unknown = to_global_id("Activity", uuid.uuid4())
    assert (await graphql.run(NODE, {"id": unknown}))["node"] is None


STATS_FIELDS = [
    "totalProjects",
    "activeProjects",
    "totalWorkItems",
    "activeWorkItems",
    "inFlightWorkItems",
    "uncommittedWorkItems",
    "unmergedWorkItems",
    "completedWorkItems",
    "totalComponents",
    "enabledComponents",
    "componentRelationships",
    "totalTickets",
    "totalPullRequests",
    "openPullRequests",
    "totalDeployments",
    "totalActivities",
    "activitiesLast24h",
    "unpublishedEvents",
]


async def test_stats(
    graphql: GraphQL, a: Agents, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert len(STATS_FIELDS) == len(Stats.model_fields)  # every count of the domain's Stats
    result, count = await graphql.counted("{ stats { " + " ".join(STATS_FIELDS) + " } }")
    stats = result["stats"]
    assert count == 1
    assert stats["totalProjects"] == stats["activeProjects"] == 1
    assert stats["totalWorkItems"] == 4
    assert stats["activeWorkItems"] == stats["inFlightWorkItems"] == 3  # FR-2.4
    assert stats["totalActivities"] == stats["activitiesLast24h"] == 4
    assert stats["totalComponents"] == stats["totalTickets"] == stats["totalDeployments"] == 0
    async with sessions() as session:
        events = (await session.execute(text("SELECT count(*) FROM events"))).scalar_one()
    assert 0 < stats["unpublishedEvents"] <= events
