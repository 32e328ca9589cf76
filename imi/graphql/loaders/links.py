"""Loaders from work items to their tickets, pull requests and deployments."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.graphql.loaders import Loader, grouped
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink


class TicketsByWorkItem(Loader[uuid.UUID, list[tuple[Ticket, TicketLink]]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[tuple[Ticket, TicketLink]]]:
        stmt = (
            select(Ticket, TicketLink)
            .join(TicketLink, col(TicketLink.ticket_id) == col(Ticket.id))
            .where(col(TicketLink.work_item_id).in_(keys))
            .order_by(col(Ticket.plane_ticket_id))
        )
        rows = (await session.execute(stmt)).all()
        return grouped([(link.work_item_id, (ticket, link)) for ticket, link in rows], keys)


class PullRequestsByWorkItem(Loader[uuid.UUID, list[PullRequest]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[PullRequest]]:
        stmt = (
            select(PullRequest)
            .where(col(PullRequest.work_item_id).in_(keys))
            .order_by(col(PullRequest.number))
        )
        rows = (await session.execute(stmt)).scalars().all()
        return grouped([(pr.work_item_id, pr) for pr in rows], keys)


class DeploymentsByWorkItem(Loader[uuid.UUID, list[Deployment]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[Deployment]]:
        stmt = (
            select(col(DeploymentWorkItem.work_item_id), Deployment)
            .join(Deployment, col(Deployment.id) == col(DeploymentWorkItem.deployment_id))
            .where(col(DeploymentWorkItem.work_item_id).in_(keys))
            .order_by(col(Deployment.deployed_at).desc())
        )
        rows = (await session.execute(stmt)).all()
        return grouped([(work_item_id, d) for work_item_id, d in rows], keys)
