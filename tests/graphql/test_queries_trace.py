"""trace(entityType:, entityId:): typed nodes and edges both ways, and null for unknown ids."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.graphql.ids import to_global_id
from imi.links.models import LinkKind
from imi.links.service import upsert_ticket
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL
from tests.graphql.seed_links import LinkGraph, deploy, gid, link, pull_request, seed_link_graph

TRACE = """
query ($type: TraceEntityType!, $id: String!) {
  trace(entityType: $type, entityId: $id) {
    direction
    root { id type entity { __typename ... on Ticket { planeTicketId } } }
    nodes {
      id type
      entity {
        __typename
        ... on Project { name }
        ... on Ticket { planeTicketId }
        ... on WorkItem { branchName }
        ... on PullRequest { number }
        ... on Deployment { deployId }
      }
    }
    edges { from to kind linkKind }
    projects { id }
    tickets { id planeTicketId }
    workItems { id branchName }
    pullRequests { id number }
    deployments { id deployId }
  }
}
"""


@pytest.fixture
async def g(sessions: async_sessionmaker[AsyncSession]) -> LinkGraph:
    return await seed_link_graph(sessions)


async def run_trace(graphql: GraphQL, entity_type: str, entity_id: str) -> Any:
    return (await graphql.run(TRACE, {"type": entity_type, "id": entity_id}))["trace"]


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def edges(trace: dict[str, Any]) -> set[tuple[str, str, str, str | None]]:
    return {(e["from"], e["to"], e["kind"], e["linkKind"]) for e in trace["edges"]}


def consistent(trace: dict[str, Any]) -> None:
    """Every edge joins two listed nodes; nodes are typed like their entities; root first."""
    node_ids = [n["id"] for n in trace["nodes"]]
    assert len(node_ids) == len(set(node_ids))
    assert node_ids[0] == trace["root"]["id"]
    for edge in trace["edges"]:
        assert edge["from"] in node_ids and edge["to"] in node_ids
    typenames = {
        "PROJECT": "Project",
        "TICKET": "Ticket",
        "WORK_ITEM": "WorkItem",
        "PULL_REQUEST": "PullRequest",
        "DEPLOYMENT": "Deployment",
    }
    for node in trace["nodes"]:
        assert node["entity"]["__typename"] == typenames[node["type"]]


async def test_forward_from_a_ticket_to_its_deployment(graphql: GraphQL, g: LinkGraph) -> None:
    trace = await run_trace(graphql, "TICKET", "PROJ-1")
    consistent(trace)
    assert trace["direction"] == "FORWARD"
    assert trace["root"] == {
        "id": gid(g.t1),
        "type": "TICKET",
        "entity": {"__typename": "Ticket", "planeTicketId": "PROJ-1"},
    }
    assert [t["planeTicketId"] for t in trace["tickets"]] == ["PROJ-1"]
    assert ids(trace["projects"]) == {gid(g.project)}
    assert ids(trace["workItems"]) == {gid(g.w1), gid(g.w2)}
    assert ids(trace["pullRequests"]) == {gid(g.pr1), gid(g.pr2)}
    assert [d["deployId"] for d in trace["deployments"]] == ["deploy-1"]
    assert ids(trace["nodes"]) == {
        gid(x) for x in (g.t1, g.project, g.w1, g.w2, g.pr1, g.pr2, g.d1)
    }
    assert edges(trace) == {
        (gid(g.project), gid(g.w1), "HAS_WORK", None),
        (gid(g.project), gid(g.w2), "HAS_WORK", None),
        (gid(g.t1), gid(g.w1), "LINKS", "CLOSES"),
        (gid(g.t1), gid(g.w2), "LINKS", "REFERENCES"),
        (gid(g.w1), gid(g.pr1), "HAS_PR", None),
        (gid(g.w2), gid(g.pr2), "HAS_PR", None),
        (gid(g.w1), gid(g.d1), "DEPLOYED_IN", None),
        (gid(g.w2), gid(g.d1), "DEPLOYED_IN", None),
        (gid(g.pr1), gid(g.d1), "DEPLOYED_IN", None),
        (gid(g.pr2), gid(g.d1), "DEPLOYED_IN", None),
    }


async def test_backward_from_a_deployment_to_its_tickets(graphql: GraphQL, g: LinkGraph) -> None:
    trace = await run_trace(graphql, "DEPLOY", "deploy-2")
    consistent(trace)
    assert trace["direction"] == "BACKWARD"
    assert (trace["root"]["id"], trace["root"]["type"]) == (gid(g.d2), "DEPLOYMENT")
    assert [d["deployId"] for d in trace["deployments"]] == ["deploy-2"]
    assert [w["branchName"] for w in trace["workItems"]] == ["fix/c"]
    assert [p["number"] for p in trace["pullRequests"]] == [3]
    assert [t["planeTicketId"] for t in trace["tickets"]] == ["PROJ-2"]
    assert edges(trace) == {
        (gid(g.project), gid(g.w3), "HAS_WORK", None),
        (gid(g.t2), gid(g.w3), "LINKS", "REFERENCES"),
        (gid(g.w3), gid(g.pr3), "HAS_PR", None),
        (gid(g.w3), gid(g.d2), "DEPLOYED_IN", None),
        (gid(g.pr3), gid(g.d2), "DEPLOYED_IN", None),
    }

    wide = await run_trace(graphql, "DEPLOY", "deploy-1")
    consistent(wide)
    assert [t["planeTicketId"] for t in wide["tickets"]] == ["PROJ-1", "PROJ-2"]
    assert (gid(g.t1), gid(g.w1), "LINKS", "CLOSES") in edges(wide)


async def test_trace_by_branch_and_by_pull_request(graphql: GraphQL, g: LinkGraph) -> None:
    by_branch = await run_trace(graphql, "BRANCH", f"{g.project.id}:feat/b")
    consistent(by_branch)
    assert (by_branch["root"]["id"], by_branch["root"]["type"]) == (gid(g.w2), "WORK_ITEM")
    assert by_branch["direction"] == "BOTH"
    assert [t["planeTicketId"] for t in by_branch["tickets"]] == ["PROJ-1", "PROJ-2"]
    assert ids(by_branch["pullRequests"]) == {gid(g.pr2)}
    assert ids(by_branch["deployments"]) == {gid(g.d1)}

    # A work item's UUID or global id names the same root.
    for entity_id in (str(g.w2.id), gid(g.w2)):
        assert (await run_trace(graphql, "BRANCH", entity_id))["root"]["id"] == gid(g.w2)

    for entity_id in (g.pr3.url, str(g.pr3.id), gid(g.pr3)):
        by_pr = await run_trace(graphql, "PR", entity_id)
        assert (by_pr["root"]["id"], by_pr["root"]["type"]) == (gid(g.pr3), "PULL_REQUEST")
        assert ids(by_pr["workItems"]) == {gid(g.w3)}
        assert ids(by_pr["tickets"]) == {gid(g.t2)}


@pytest.mark.parametrize(
    ("entity_type", "entity_id"),
    [
        ("TICKET", "NOPE-1"),
        ("TICKET", ""),
        ("BRANCH", "not-a-uuid"),
        ("BRANCH", str(uuid.uuid4())),
        ("BRANCH", f"{uuid.uuid4()}:feat/a"),
        ("BRANCH", "garbage:feat/a"),
        ("BRANCH", to_global_id("Ticket", uuid.uuid4())),
        ("PR", "https://github.com/acme/none/pull/1"),
        ("PR", to_global_id("PullRequest", uuid.uuid4())),
        ("DEPLOY", "deploy-404"),
    ],
)
async def test_unknown_or_malformed_ids_give_null(
    graphql: GraphQL, g: LinkGraph, entity_type: str, entity_id: str
) -> None:
    assert await run_trace(graphql, entity_type, entity_id) is None


async def test_unknown_branch_of_a_known_project_gives_null(graphql: GraphQL, g: LinkGraph) -> None:
    assert await run_trace(graphql, "BRANCH", f"{g.project.id}:feat/none") is None


async def test_a_ticket_with_no_links_is_its_own_trace(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        await upsert_ticket(session, plane_ticket_id="LONE-1")
    trace = await run_trace(graphql, "TICKET", "LONE-1")
    assert [n["type"] for n in trace["nodes"]] == ["TICKET"]
    assert trace["edges"] == [] and trace["workItems"] == []


async def seed_fan_out(sessions: async_sessionmaker[AsyncSession], key: str, width: int) -> None:
    """One ticket over ``width`` work items, each with a PR and a deployment."""
    async with sessions() as session, session.begin():
        project = await make_project(session)
        for i in range(width):
            work = await make_work_item(session, project, branch_name=f"{key}/{i}")
            await link(session, work, key, LinkKind.CLOSES)
            await pull_request(session, work, i + 1)
            await deploy(session, f"{key}-d{i}", "production", work)


async def test_trace_statements_do_not_grow_with_the_graph(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_fan_out(sessions, "SMALL-1", 2)
    await seed_fan_out(sessions, "LARGE-1", 40)
    small, small_count = await graphql.counted(TRACE, {"type": "TICKET", "id": "SMALL-1"})
    large, large_count = await graphql.counted(TRACE, {"type": "TICKET", "id": "LARGE-1"})
    assert len(small["trace"]["deployments"]) == 2
    assert len(large["trace"]["deployments"]) == 40
    assert len(large["trace"]["edges"]) == 40 * 5
    assert small_count == large_count <= 4, graphql.statements.seen
