"""The dashboard query: its SQL statement count must not grow with the data (no N+1)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from tests.factories import make_project, make_work_item
from tests.graphql.conftest import GraphQL

DASHBOARD = """
query Dashboard {
  projects(first: 50) {
    totalCount
    edges { node {
      name
      counts { active uncommitted unmerged }
      workItems(first: 20) {
        totalCount
        nodes {
          branchName status ownerId
          tickets { kind ticket { planeTicketId title } }
          pullRequests { number state url }
          deployments { deployId environment }
        }
      }
    } }
  }
}
"""


async def seed(
    sessions: async_sessionmaker[AsyncSession], projects: range, items: int = 20
) -> None:
    async with sessions() as session, session.begin():
        for p in projects:
            project = await make_project(session, name=f"p{p:03d}")
            for i in range(items):
                item = await make_work_item(session, project, branch_name=f"feat/{p}-{i}")
                ticket = Ticket(plane_ticket_id=f"P{p}-{i}", title="t")
                deployment = Deployment(deploy_id=f"d-{p}-{i}", environment="prod")
                session.add_all([ticket, deployment])
                await session.flush()
                session.add_all(
                    [
                        TicketLink(ticket_id=ticket.id, work_item_id=item.id),
                        PullRequest(
                            project_id=project.id,
                            work_item_id=item.id,
                            number=i + 1,
                            url=f"https://github.com/acme/p{p}/pull/{i + 1}",
                        ),
                        DeploymentWorkItem(deployment_id=deployment.id, work_item_id=item.id),
                    ]
                )
            await session.flush()


async def test_dashboard_statement_count_is_independent_of_data(
    graphql: GraphQL, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, range(5))
    small, small_count = await graphql.counted(DASHBOARD)
    small_statements = list(graphql.statements.seen)
    assert small["projects"]["totalCount"] == 5
    first = small["projects"]["edges"][0]["node"]
    assert first["workItems"]["totalCount"] == 20
    assert len(first["workItems"]["nodes"]) == 20
    node = first["workItems"]["nodes"][0]
    assert len(node["tickets"]) == len(node["pullRequests"]) == len(node["deployments"]) == 1

    await seed(sessions, range(5, 50))
    large, large_count = await graphql.counted(DASHBOARD)
    assert large["projects"]["totalCount"] == 50
    assert all(len(edge["node"]["workItems"]["nodes"]) == 20 for edge in large["projects"]["edges"])
    assert small_count == large_count
    # Fixed statement shapes: id batches bind one array, so 5 and 50 projects send the very
    # same statement texts (each one prepared statement, whatever the batch size).
    assert sorted(small_statements) == sorted(graphql.statements.seen)
    # projects page, counts, work items, tickets, PRs, deployments: one each.
    assert large_count == 6, graphql.statements.seen
