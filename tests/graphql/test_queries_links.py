"""ticket / pullRequest / deployment queries, their navigation both ways, and node(id:)."""

from __future__ import annotations

import uuid

import pytest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.graphql.ids import to_global_id
from tests.graphql.conftest import GraphQL
from tests.graphql.seed_links import LinkGraph, Row, gid, seed_link_graph


@pytest.fixture
async def g(sessions: async_sessionmaker[AsyncSession]) -> LinkGraph:
    return await seed_link_graph(sessions)


def ids(items: list[dict[str, str]]) -> set[str]:
    return {item["id"] for item in items}


TICKET = """
query ($key: String!) {
  ticket(planeTicketId: $key) {
    id uuid planeTicketId title
    workItems { id branchName }
    pullRequests { id number }
    deployments { id deployId }
  }
}
"""


async def test_ticket_and_its_work_pull_requests_and_deployments(
    graphql: GraphQL, g: LinkGraph
) -> None:
    t1 = (await graphql.run(TICKET, {"key": "PROJ-1"}))["ticket"]
    assert (t1["id"], t1["uuid"], t1["title"]) == (gid(g.t1), str(g.t1.id), "PROJ-1")
    assert ids(t1["workItems"]) == {gid(g.w1), gid(g.w2)}
    assert ids(t1["pullRequests"]) == {gid(g.pr1), gid(g.pr2)}
    # w1 and w2 both ship in deploy-1: it is listed once.
    assert [d["deployId"] for d in t1["deployments"]] == ["deploy-1"]

    t2 = (await graphql.run(TICKET, {"key": " PROJ-2 "}))["ticket"]
    assert ids(t2["workItems"]) == {gid(g.w2), gid(g.w3)}
    assert ids(t2["pullRequests"]) == {gid(g.pr2), gid(g.pr3)}
    assert ids(t2["deployments"]) == {gid(g.d1), gid(g.d2)}

    assert (await graphql.run(TICKET, {"key": "NOPE-404"}))["ticket"] is None
    assert (await graphql.run(TICKET, {"key": ""}))["ticket"] is None


PULL_REQUEST = """
query ($url: String, $id: ID) {
  pullRequest(url: $url, id: $id) {
    id number state url
    workItem { id branchName }
    project { id name }
    tickets { id planeTicketId }
    deployments { id deployId }
  }
}
"""


async def test_pull_request_by_url_or_id_and_its_navigation(graphql: GraphQL, g: LinkGraph) -> None:
    pr1 = (await graphql.run(PULL_REQUEST, {"url": g.pr1.url + "/"}))["pullRequest"]
    assert (pr1["id"], pr1["number"], pr1["state"]) == (gid(g.pr1), 1, "MERGED")
    assert pr1["workItem"] == {"id": gid(g.w1), "branchName": "feat/a"}
    assert pr1["project"] == {"id": gid(g.project), "name": "app"}
    assert [t["planeTicketId"] for t in pr1["tickets"]] == ["PROJ-1"]
    assert [d["deployId"] for d in pr1["deployments"]] == ["deploy-1"]

    pr2 = (await graphql.run(PULL_REQUEST, {"id": gid(g.pr2)}))["pullRequest"]
    assert [t["planeTicketId"] for t in pr2["tickets"]] == ["PROJ-1", "PROJ-2"]
    by_uuid = (await graphql.run(PULL_REQUEST, {"id": str(g.pr3.id)}))["pullRequest"]
    assert by_uuid["id"] == gid(g.pr3)
    assert [d["deployId"] for d in by_uuid["deployments"]] == ["deploy-2"]
    # A UUID given as `url` is accepted too (as in REST).
    assert (await graphql.run(PULL_REQUEST, {"url": str(g.pr3.id)}))["pullRequest"]["number"] == 3


@pytest.mark.parametrize(
    "variables",
    [
        {"url": "https://github.com/acme/none/pull/9"},
        {"id": str(uuid.uuid4())},
        {"id": "not-an-id"},
        {"id": to_global_id("Ticket", uuid.uuid4())},  # another type's id
    ],
)
async def test_unknown_pull_request_is_null(
    graphql: GraphQL, g: LinkGraph, variables: dict[str, str]
) -> None:
    assert (await graphql.run(PULL_REQUEST, variables))["pullRequest"] is None


@pytest.mark.parametrize("variables", [{}, {"url": "https://x.test/pull/1", "id": "x"}])
async def test_pull_request_needs_exactly_one_of_url_and_id(
    graphql: GraphQL, variables: dict[str, str]
) -> None:
    with pytest.raises(TransportQueryError, match="exactly one of url and id"):
        await graphql.run(PULL_REQUEST, variables)


DEPLOYMENT = """
query ($deployId: String!) {
  deployment(deployId: $deployId) {
    id deployId environment
    workItems { id }
    pullRequests { id number }
    tickets { id planeTicketId }
  }
}
"""


async def test_deployment_and_its_work_pull_requests_and_tickets(
    graphql: GraphQL, g: LinkGraph
) -> None:
    d1 = (await graphql.run(DEPLOYMENT, {"deployId": "deploy-1"}))["deployment"]
    assert (d1["id"], d1["environment"]) == (gid(g.d1), "production")
    assert ids(d1["workItems"]) == {gid(g.w1), gid(g.w2)}
    assert [p["number"] for p in d1["pullRequests"]] == [1, 2]
    # PROJ-1 reaches deploy-1 through w1 and w2: listed once.
    assert [t["planeTicketId"] for t in d1["tickets"]] == ["PROJ-1", "PROJ-2"]

    d2 = (await graphql.run(DEPLOYMENT, {"deployId": "deploy-2"}))["deployment"]
    assert ids(d2["workItems"]) == {gid(g.w3)}
    assert ids(d2["pullRequests"]) == {gid(g.pr3)}
    assert ids(d2["tickets"]) == {gid(g.t2)}

    assert (await graphql.run(DEPLOYMENT, {"deployId": "deploy-404"}))["deployment"] is None


WORK_ITEM = """
query ($id: ID!) {
  workItem(id: $id) {
    tickets { kind ticket { id workItems { id } } }
    pullRequests { id workItem { id } }
    deployments { id workItems { id } }
  }
}
"""


async def test_navigation_round_trips_through_work_items(graphql: GraphQL, g: LinkGraph) -> None:
    w2 = (await graphql.run(WORK_ITEM, {"id": gid(g.w2)}))["workItem"]
    assert {(t["kind"], t["ticket"]["id"]) for t in w2["tickets"]} == {
        ("REFERENCES", gid(g.t1)),
        ("REFERENCES", gid(g.t2)),
    }
    assert all(gid(g.w2) in ids(t["ticket"]["workItems"]) for t in w2["tickets"])
    assert [(p["id"], p["workItem"]["id"]) for p in w2["pullRequests"]] == [(gid(g.pr2), gid(g.w2))]
    assert [d["id"] for d in w2["deployments"]] == [gid(g.d1)]
    assert ids(w2["deployments"][0]["workItems"]) == {gid(g.w1), gid(g.w2)}


NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Ticket { planeTicketId }
    ... on PullRequest { number }
    ... on Deployment { deployId }
  }
}
"""


async def test_node_resolves_tickets_pull_requests_and_deployments(
    graphql: GraphQL, g: LinkGraph
) -> None:
    cases: list[tuple[Row, str, str, object]] = [
        (g.t1, "Ticket", "planeTicketId", "PROJ-1"),
        (g.pr2, "PullRequest", "number", 2),
        (g.d2, "Deployment", "deployId", "deploy-2"),
    ]
    for row, typename, field, value in cases:
        node = (await graphql.run(NODE, {"id": gid(row)}))["node"]
        assert node == {"__typename": typename, "id": gid(row), field: value}
        unknown = to_global_id(typename, uuid.uuid4())
        assert (await graphql.run(NODE, {"id": unknown}))["node"] is None
