"""Nested navigation costs a fixed number of SQL statements, whatever the data (no N+1)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.components.models import ComponentCreate, RelationshipCreate
from imi.components.service import register_component, relate_components
from imi.links.models import LinkKind
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL
from tests.graphql.seed_links import deploy, link, pull_request

TICKET_CHAIN = """
query ($key: String!) {
  ticket(planeTicketId: $key) {
    planeTicketId
    workItems {
      branchName
      pullRequests { number deployments { deployId environment } }
    }
  }
}
"""

RELEASE_CHAIN = """
query ($deployId: String!) {
  deployment(deployId: $deployId) {
    tickets {
      planeTicketId
      workItems { branchName pullRequests { number deployments { deployId } } }
    }
  }
}
"""


async def seed_tickets(
    sessions: async_sessionmaker[AsyncSession], prefix: str, tickets: int, width: int
) -> None:
    """``tickets`` tickets over ``width`` work items each; every work item has two PRs and
    ships in its own deploy and in the shared ``<prefix>-release``."""
    async with sessions() as session, session.begin():
        project = await make_project(session)
        shipped = []
        for t in range(tickets):
            for i in range(width):
                work = await make_work_item(session, project, branch_name=f"{prefix}/{t}-{i}")
                await link(session, work, f"{prefix.upper()}-{t}", LinkKind.CLOSES)
                await pull_request(session, work, 2 * (t * width + i) + 1)
                await pull_request(session, work, 2 * (t * width + i) + 2)
                await deploy(session, f"{prefix}-{t}-{i}", "staging", work)
                shipped.append(work)
        await deploy(session, f"{prefix}-release", "production", *shipped)


def chain_size(ticket: dict[str, Any]) -> tuple[int, int, int]:
    works = ticket["workItems"]
    prs = [pr for w in works for pr in w["pullRequests"]]
    return len(works), len(prs), sum(len(pr["deployments"]) for pr in prs)


async def test_ticket_work_pull_requests_deployments_statements_are_constant(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_tickets(sessions, "small", tickets=1, width=2)
    await seed_tickets(sessions, "large", tickets=1, width=40)

    small, small_count = await graphql.counted(TICKET_CHAIN, {"key": "SMALL-0"})
    large, large_count = await graphql.counted(TICKET_CHAIN, {"key": "LARGE-0"})
    assert chain_size(small["ticket"]) == (2, 4, 8)
    assert chain_size(large["ticket"]) == (40, 80, 160)
    # ticket, its work items, their PRs, the PRs' deployments.
    assert small_count == large_count == 4, graphql.statements.seen


async def test_many_tickets_share_each_level_statement(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_tickets(sessions, "few", tickets=2, width=2)
    await seed_tickets(sessions, "many", tickets=30, width=3)

    small, small_count = await graphql.counted(RELEASE_CHAIN, {"deployId": "few-release"})
    large, large_count = await graphql.counted(RELEASE_CHAIN, {"deployId": "many-release"})
    assert len(small["deployment"]["tickets"]) == 2
    assert len(large["deployment"]["tickets"]) == 30
    assert all(chain_size(t) == (3, 6, 12) for t in large["deployment"]["tickets"])
    # deployment, its tickets, their work items, the PRs, the PRs' deployments.
    assert small_count == large_count == 5, graphql.statements.seen


COMPONENT_CHAIN = """
query ($projectId: ID!) {
  components(projectId: $projectId, first: 100) {
    totalCount
    nodes { name dependsOn { name dependsOn { name } } }
  }
}
"""


async def seed_layers(sessions: async_sessionmaker[AsyncSession], width: int, fan_out: int) -> str:
    """Three projects of ``width`` components each: app -> lib -> base, each component
    depending on ``fan_out`` components of the next layer. Returns the app project's id."""
    async with sessions() as session, session.begin():
        layers = []
        for layer in ("app", "lib", "base"):
            project = await make_project(session, name=f"{layer}-{width}")
            layers.append(
                [
                    await register_component(
                        session, ComponentCreate(project_id=project.id, name=f"{layer}-{i}")
                    )
                    for i in range(width)
                ]
            )
        for upper, lower in pairwise(layers):
            for i, component in enumerate(upper):
                for k in range(fan_out):
                    target = lower[(i + k) % width]
                    await relate_components(
                        session,
                        RelationshipCreate(
                            from_component_id=component.id, to_component_id=target.id
                        ),
                    )
        return str(layers[0][0].parent_project_id)


async def test_component_depends_on_depends_on_statements_are_constant(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    small_project = await seed_layers(sessions, width=2, fan_out=1)
    large_project = await seed_layers(sessions, width=30, fan_out=3)

    small, small_count = await graphql.counted(COMPONENT_CHAIN, {"projectId": small_project})
    large, large_count = await graphql.counted(COMPONENT_CHAIN, {"projectId": large_project})
    assert small["components"]["totalCount"] == 2
    assert large["components"]["totalCount"] == 30
    node = large["components"]["nodes"][0]
    assert len(node["dependsOn"]) == 3
    assert all(len(dep["dependsOn"]) == 3 for dep in node["dependsOn"])
    # the components page, their dependencies, the dependencies' dependencies.
    assert small_count == large_count == 3, graphql.statements.seen
