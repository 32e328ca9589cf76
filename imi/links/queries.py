"""Batch reads between work items, tickets, pull requests and deployments (each way).

Each function answers many keys in one statement and returns ``(key, row)`` pairs in the
field's order; the same row may come once per path that reaches it (callers keep it once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among, reached
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from imi.work.models import WorkItem

Ids = Sequence[uuid.UUID]
Pairs = list[tuple[uuid.UUID, WorkItem]]

PR_ORDER = (col(PullRequest.opened_at), col(PullRequest.number), col(PullRequest.id))
DEPLOY_ORDER = (col(Deployment.deployed_at).desc(), col(Deployment.id))
WORK_ORDER = (col(WorkItem.last_activity_at).desc(), col(WorkItem.id))
BY_PLANE_ID = (col(Ticket.plane_ticket_id),)

LINK_TICKET = col(TicketLink.ticket_id)
LINK_WORK = col(TicketLink.work_item_id)
SHIPPED_DEPLOY = col(DeploymentWorkItem.deployment_id)
SHIPPED_WORK = col(DeploymentWorkItem.work_item_id)

# Joins from a link table to what it reaches.
TO_WORK_OF_LINK = (WorkItem, col(WorkItem.id) == LINK_WORK)
TO_PRS_OF_LINK = (PullRequest, col(PullRequest.work_item_id) == LINK_WORK)
TO_DEPLOYMENT = (Deployment, col(Deployment.id) == SHIPPED_DEPLOY)
TO_WORK_SHIPPED = (WorkItem, col(WorkItem.id) == SHIPPED_WORK)
TO_PRS_SHIPPED = (PullRequest, col(PullRequest.work_item_id) == SHIPPED_WORK)


# --- from work items -------------------------------------------------------------------------


async def tickets_of_work_items(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, tuple[Ticket, TicketLink]]]:
    """``(work item id, (ticket, link))`` for each linked ticket, by Plane id."""
    stmt = (
        select(Ticket, TicketLink)
        .join(TicketLink, col(TicketLink.ticket_id) == col(Ticket.id))
        .where(among(LINK_WORK, ids))
        .order_by(*BY_PLANE_ID)
    )
    rows = (await session.execute(stmt)).all()
    return [(link.work_item_id, (ticket, link)) for ticket, link in rows]


async def pull_requests_of_work_items(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, PullRequest]]:
    """``(work item id, pull request)`` for the pull requests opened from them, by number."""
    stmt = (
        select(PullRequest)
        .where(among(col(PullRequest.work_item_id), ids))
        .order_by(col(PullRequest.number))
    )
    return [(pr.work_item_id, pr) for pr in (await session.execute(stmt)).scalars()]


async def deployments_of_work_items(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, Deployment]]:
    """``(work item id, deployment)`` for each deployment shipping them, newest first."""
    order = (col(Deployment.deployed_at).desc(),)
    return await reached(session, ids, SHIPPED_WORK, Deployment, [TO_DEPLOYMENT], order_by=order)


# --- from tickets ----------------------------------------------------------------------------


async def work_items_of_tickets(session: AsyncSession, ids: Ids) -> Pairs:
    return await reached(
        session, ids, LINK_TICKET, WorkItem, [TO_WORK_OF_LINK], order_by=WORK_ORDER
    )


async def pull_requests_of_tickets(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, PullRequest]]:
    return await reached(
        session, ids, LINK_TICKET, PullRequest, [TO_PRS_OF_LINK], order_by=PR_ORDER
    )


async def deployments_of_tickets(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, Deployment]]:
    joins = [(DeploymentWorkItem, SHIPPED_WORK == LINK_WORK), TO_DEPLOYMENT]
    return await reached(session, ids, LINK_TICKET, Deployment, joins, order_by=DEPLOY_ORDER)


# --- from deployments ------------------------------------------------------------------------


async def work_items_of_deployments(session: AsyncSession, ids: Ids) -> Pairs:
    return await reached(
        session, ids, SHIPPED_DEPLOY, WorkItem, [TO_WORK_SHIPPED], order_by=WORK_ORDER
    )


async def pull_requests_of_deployments(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, PullRequest]]:
    return await reached(
        session, ids, SHIPPED_DEPLOY, PullRequest, [TO_PRS_SHIPPED], order_by=PR_ORDER
    )


async def tickets_of_deployments(session: AsyncSession, ids: Ids) -> list[tuple[uuid.UUID, Ticket]]:
    joins = [(TicketLink, LINK_WORK == SHIPPED_WORK), (Ticket, col(Ticket.id) == LINK_TICKET)]
    return await reached(session, ids, SHIPPED_DEPLOY, Ticket, joins, order_by=BY_PLANE_ID)
