"""Batch reads between work items, tickets, pull requests and deployments (each way).

Each function answers many keys in one statement and returns ``(key, row)`` pairs in the
field's order; the same row may come once per path that reaches it (callers keep it once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import among
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from imi.work.models import WorkItem

Ids = Sequence[uuid.UUID]

PR_ORDER = (col(PullRequest.opened_at), col(PullRequest.number), col(PullRequest.id))
DEPLOY_ORDER = (col(Deployment.deployed_at).desc(), col(Deployment.id))
WORK_ORDER = (col(WorkItem.last_activity_at).desc(), col(WorkItem.id))

LINK_TICKET = col(TicketLink.ticket_id)
LINK_WORK = col(TicketLink.work_item_id)
SHIPPED_DEPLOY = col(DeploymentWorkItem.deployment_id)
SHIPPED_WORK = col(DeploymentWorkItem.work_item_id)


async def _pairs(session: AsyncSession, stmt: Any) -> list[tuple[Any, Any]]:
    return [(key, row) for key, row in (await session.execute(stmt)).all()]


# --- from work items -------------------------------------------------------------------------


async def tickets_of_work_items(session: AsyncSession, ids: Ids) -> list[tuple[Ticket, TicketLink]]:
    """Each linked ticket with its link (the link names the work item), by Plane id."""
    stmt = (
        select(Ticket, TicketLink)
        .join(TicketLink, col(TicketLink.ticket_id) == col(Ticket.id))
        .where(among(LINK_WORK, ids))
        .order_by(col(Ticket.plane_ticket_id))
    )
    return [(ticket, link) for ticket, link in (await session.execute(stmt)).all()]


async def pull_requests_of_work_items(session: AsyncSession, ids: Ids) -> list[PullRequest]:
    """The pull requests opened from these work items, by number."""
    stmt = (
        select(PullRequest)
        .where(among(col(PullRequest.work_item_id), ids))
        .order_by(col(PullRequest.number))
    )
    return list((await session.execute(stmt)).scalars())


async def deployments_of_work_items(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, Deployment]]:
    """``(work item id, deployment)`` for each deployment shipping them, newest first."""
    stmt = (
        select(SHIPPED_WORK, Deployment)
        .join(Deployment, col(Deployment.id) == SHIPPED_DEPLOY)
        .where(among(SHIPPED_WORK, ids))
        .order_by(col(Deployment.deployed_at).desc())
    )
    return await _pairs(session, stmt)


# --- from tickets ----------------------------------------------------------------------------


async def work_items_of_tickets(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, WorkItem]]:
    stmt = (
        select(LINK_TICKET, WorkItem)
        .join(WorkItem, col(WorkItem.id) == LINK_WORK)
        .where(among(LINK_TICKET, ids))
        .order_by(*WORK_ORDER)
    )
    return await _pairs(session, stmt)


async def pull_requests_of_tickets(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, PullRequest]]:
    stmt = (
        select(LINK_TICKET, PullRequest)
        .join(PullRequest, col(PullRequest.work_item_id) == LINK_WORK)
        .where(among(LINK_TICKET, ids))
        .order_by(*PR_ORDER)
    )
    return await _pairs(session, stmt)


async def deployments_of_tickets(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, Deployment]]:
    stmt = (
        select(LINK_TICKET, Deployment)
        .join(DeploymentWorkItem, SHIPPED_WORK == LINK_WORK)
        .join(Deployment, col(Deployment.id) == SHIPPED_DEPLOY)
        .where(among(LINK_TICKET, ids))
        .order_by(*DEPLOY_ORDER)
    )
    return await _pairs(session, stmt)


# --- from deployments ------------------------------------------------------------------------


async def work_items_of_deployments(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, WorkItem]]:
    stmt = (
        select(SHIPPED_DEPLOY, WorkItem)
        .join(WorkItem, col(WorkItem.id) == SHIPPED_WORK)
        .where(among(SHIPPED_DEPLOY, ids))
        .order_by(*WORK_ORDER)
    )
    return await _pairs(session, stmt)


async def pull_requests_of_deployments(
    session: AsyncSession, ids: Ids
) -> list[tuple[uuid.UUID, PullRequest]]:
    stmt = (
        select(SHIPPED_DEPLOY, PullRequest)
        .join(PullRequest, col(PullRequest.work_item_id) == SHIPPED_WORK)
        .where(among(SHIPPED_DEPLOY, ids))
        .order_by(*PR_ORDER)
    )
    return await _pairs(session, stmt)


async def tickets_of_deployments(session: AsyncSession, ids: Ids) -> list[tuple[uuid.UUID, Ticket]]:
    stmt = (
        select(SHIPPED_DEPLOY, Ticket)
        .join(TicketLink, LINK_WORK == SHIPPED_WORK)
        .join(Ticket, col(Ticket.id) == LINK_TICKET)
        .where(among(SHIPPED_DEPLOY, ids))
        .order_by(col(Ticket.plane_ticket_id))
    )
    return await _pairs(session, stmt)
