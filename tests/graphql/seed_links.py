"""A small link graph for the GraphQL query tests, written through the domain services.

P: w1 (feat/a, agent-1), w2 (feat/b, agent-1), w3 (fix/c, agent-2)
T1 -closes-> w1, T1 -references-> w2; T2 -references-> w2, w3
pr1 (#1, merged) on w1, pr2 (#2) on w2, pr3 (#3) on w3
d1 (prod) ships w1 and w2; d2 (staging) ships w3
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.graphql.ids import to_global_id
from imi.links.models import (
    Deployment,
    DeploymentInput,
    LinkKind,
    PRState,
    PullRequest,
    PullRequestInput,
    Ticket,
    TicketLinkInput,
)
from imi.links.service import link_deployment, link_pull_request, link_ticket
from imi.projects.models import Project
from imi.work.models import WorkItem
from tests.factories import make_project, make_work_item

Row = Project | Ticket | WorkItem | PullRequest | Deployment
TYPE_NAMES = {
    Project: "Project",
    Ticket: "Ticket",
    WorkItem: "WorkItem",
    PullRequest: "PullRequest",
    Deployment: "Deployment",
}


def gid(row: Row) -> str:
    return to_global_id(TYPE_NAMES[type(row)], row.id)


@dataclass
class LinkGraph:
    project: Project
    t1: Ticket
    t2: Ticket
    w1: WorkItem
    w2: WorkItem
    w3: WorkItem
    pr1: PullRequest
    pr2: PullRequest
    pr3: PullRequest
    d1: Deployment
    d2: Deployment


async def link(
    session: AsyncSession, work: WorkItem, key: str, kind: LinkKind = LinkKind.REFERENCES
) -> Ticket:
    data = TicketLinkInput(work_item_id=work.id, plane_ticket_id=key, title=key, kind=kind)
    return (await link_ticket(session, data)).ticket


async def pull_request(
    session: AsyncSession, work: WorkItem, number: int, state: PRState = PRState.OPEN
) -> PullRequest:
    data = PullRequestInput(
        work_item_id=work.id,
        pr_number=number,
        pr_url=f"https://github.com/acme/app-{work.project_id.hex[:6]}/pull/{number}",
        pr_state=state,
    )
    return (await link_pull_request(session, data)).pull_request


async def deploy(
    session: AsyncSession, deploy_id: str, environment: str, *work: WorkItem
) -> Deployment:
    data = DeploymentInput(
        deploy_id=deploy_id, environment=environment, work_item_ids=[w.id for w in work]
    )
    return (await link_deployment(session, data)).deployment


async def seed_link_graph(sessions: async_sessionmaker[AsyncSession]) -> LinkGraph:
    async with sessions() as session, session.begin():
        project = await make_project(session, name="app")
        w1 = await make_work_item(session, project, branch_name="feat/a", owner_id="agent-1")
        w2 = await make_work_item(session, project, branch_name="feat/b", owner_id="agent-1")
        w3 = await make_work_item(session, project, branch_name="fix/c", owner_id="agent-2")
        t1 = await link(session, w1, "PROJ-1", LinkKind.CLOSES)
        await link(session, w2, "PROJ-1")
        t2 = await link(session, w2, "PROJ-2")
        await link(session, w3, "PROJ-2")
        pr1 = await pull_request(session, w1, 1, PRState.MERGED)
        pr2 = await pull_request(session, w2, 2)
        pr3 = await pull_request(session, w3, 3)
        d1 = await deploy(session, "deploy-1", "production", w1, w2)
        d2 = await deploy(session, "deploy-2", "staging", w3)
    return LinkGraph(project, t1, t2, w1, w2, w3, pr1, pr2, pr3, d1, d2)
