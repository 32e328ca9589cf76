"""Timelines: every node with events has one; a work item's includes its links' events."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.activities.models import ActivityCreate, ActivityType
from imi.activities.service import log_activity
from imi.projects.models import ProjectUpdate
from imi.projects.service import update_project
from tests.graphql.conftest import GraphQL
from tests.graphql.seed_links import LinkGraph, gid, seed_link_graph

TIMELINE = "timeline { totalCount nodes { eventType subjectType } }"


@pytest.fixture
async def g(sessions: async_sessionmaker[AsyncSession]) -> LinkGraph:
    return await seed_link_graph(sessions)


def types(node: dict) -> list[str]:
    return [event["eventType"] for event in node["timeline"]["nodes"]]


async def test_a_work_items_timeline_holds_its_links_events(
    graphql: GraphQL, g: LinkGraph, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        await log_activity(
            session,
            ActivityCreate(
                agent_id="agent-1", work_item_id=g.w1.id, activity_type=ActivityType.MODIFIED
            ),
        )
    query = f'{{ node(id: "{gid(g.w1)}") {{ ... on WorkItem {{ {TIMELINE} }} }} }}'
    w1 = (await graphql.run(query))["node"]
    # Oldest first: the ticket link, the PR, the deploy that shipped it, the activity.
    assert types(w1) == [
        "imi.link.ticket_linked",
        "imi.pr.created",
        "imi.pr.merged",
        "imi.deploy.completed",
        "imi.activity.logged",
    ]
    assert w1["timeline"]["totalCount"] == len(types(w1))
    assert {"ticket", "pull_request", "deployment", "activity"} <= {
        e["subjectType"] for e in w1["timeline"]["nodes"]
    }
    # w3 shipped in d2 only: d1's event is not on its timeline.
    payloads = "timeline { nodes { payload } }"
    query3 = f'{{ node(id: "{gid(g.w3)}") {{ ... on WorkItem {{ {payloads} }} }} }}'
    w3 = (await graphql.run(query3))["node"]["timeline"]["nodes"]
    deploy_ids = [e["payload"].get("deploy_id") for e in w3 if "deploy_id" in e["payload"]]
    assert deploy_ids == ["deploy-2"]


async def test_timelines_of_many_work_items_take_one_statement(
    graphql: GraphQL, g: LinkGraph
) -> None:
    query = "{ workItems(first: 10) { nodes { branchName timeline(first: 2) { totalCount } } } }"
    result, count = await graphql.counted(query)
    totals = {n["branchName"]: n["timeline"]["totalCount"] for n in result["workItems"]["nodes"]}
    assert set(totals) == {"feat/a", "feat/b", "fix/c"} and all(totals.values())
    assert count == 2  # the work items, then every timeline page at once


async def test_projects_tickets_prs_and_deployments_have_timelines(
    graphql: GraphQL, g: LinkGraph, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        await update_project(session, g.project.id, ProjectUpdate(description="shop"))
    query = f"""{{
      project: node(id: "{gid(g.project)}") {{ ... on Project {{ {TIMELINE} }} }}
      ticket(planeTicketId: "PROJ-1") {{ {TIMELINE} }}
      pullRequest(id: "{gid(g.pr1)}") {{ {TIMELINE} }}
      deployment(deployId: "deploy-1") {{ {TIMELINE} }}
    }}"""
    result = await graphql.run(query)
    assert types(result["project"]) == ["imi.project.updated"]
    assert types(result["ticket"]) == [
        "imi.ticket.created",
        "imi.link.ticket_linked",
        "imi.link.ticket_linked",
    ]
    assert types(result["pullRequest"]) == ["imi.pr.created", "imi.pr.merged"]
    assert types(result["deployment"]) == ["imi.deploy.completed"]
    assert {e["subjectType"] for e in result["ticket"]["timeline"]["nodes"]} == {"ticket"}
