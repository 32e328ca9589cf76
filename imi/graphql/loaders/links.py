"""Loaders between work items, tickets, pull requests and deployments (each way).

A pull request belongs to one work item, so its tickets and deployments are those of its work
item: ``PullRequest`` fields reuse the ``...ByWorkItem`` loaders with the PR's work item id and
share their batches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.graphql.loaders import Loader, grouped
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from imi.work.models import WorkItem

R = TypeVar("R", Ticket, PullRequest, Deployment, WorkItem)

PR_ORDER = (col(PullRequest.opened_at), col(PullRequest.number), col(PullRequest.id))
DEPLOY_ORDER = (col(Deployment.deployed_at).desc(), col(Deployment.id))
WORK_ORDER = (col(WorkItem.last_activity_at).desc(), col(WorkItem.id))


def _distinct(rows: Sequence[Any], keys: list[uuid.UUID]) -> list[list[Any]]:
    """``(key, row)`` pairs grouped by key, each row once per key (several paths may reach it)."""
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    pairs: list[tuple[uuid.UUID, Any]] = []
    for key, row in rows:
        if (key, row.id) not in seen:
            seen.add((key, row.id))
            pairs.append((key, row))
    return grouped(pairs, keys)


async def _by_id(session: AsyncSession, model: type[R], keys: list[uuid.UUID]) -> list[R | None]:
    rows = (await session.execute(select(model).where(col(model.id).in_(keys)))).scalars()
    by_id = {row.id: row for row in rows}
    return [by_id.get(key) for key in keys]


class TicketById(Loader[uuid.UUID, Ticket | None]):
    async def load_batch(self, session: AsyncSession, keys: list[uuid.UUID]) -> list[Ticket | None]:
        return await _by_id(session, Ticket, keys)


class PullRequestById(Loader[uuid.UUID, PullRequest | None]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[PullRequest | None]:
        return await _by_id(session, PullRequest, keys)


class DeploymentById(Loader[uuid.UUID, Deployment | None]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[Deployment | None]:
        return await _by_id(session, Deployment, keys)


# --- from work items -------------------------------------------------------------------------


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


# --- from tickets ----------------------------------------------------------------------------


class WorkItemsByTicket(Loader[uuid.UUID, list[WorkItem]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[WorkItem]]:
        stmt = (
            select(col(TicketLink.ticket_id), WorkItem)
            .join(WorkItem, col(WorkItem.id) == col(TicketLink.work_item_id))
            .where(col(TicketLink.ticket_id).in_(keys))
            .order_by(*WORK_ORDER)
        )
        return _distinct((await session.execute(stmt)).all(), keys)


class PullRequestsByTicket(Loader[uuid.UUID, list[PullRequest]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[PullRequest]]:
        stmt = (
            select(col(TicketLink.ticket_id), PullRequest)
            .join(PullRequest, col(PullRequest.work_item_id) == col(TicketLink.work_item_id))
            .where(col(TicketLink.ticket_id).in_(keys))
            .order_by(*PR_ORDER)
        )
        return _distinct((await session.execute(stmt)).all(), keys)


class DeploymentsByTicket(Loader[uuid.UUID, list[Deployment]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[Deployment]]:
        stmt = (
            select(col(TicketLink.ticket_id), Deployment)
            .join(
                DeploymentWorkItem,
                col(DeploymentWorkItem.work_item_id) == col(TicketLink.work_item_id),
            )
            .join(Deployment, col(Deployment.id) == col(DeploymentWorkItem.deployment_id))
            .where(col(TicketLink.ticket_id).in_(keys))
            .order_by(*DEPLOY_ORDER)
        )
        return _distinct((await session.execute(stmt)).all(), keys)


# --- from deployments ------------------------------------------------------------------------


class WorkItemsByDeployment(Loader[uuid.UUID, list[WorkItem]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[WorkItem]]:
        stmt = (
            select(col(DeploymentWorkItem.deployment_id), WorkItem)
            .join(WorkItem, col(WorkItem.id) == col(DeploymentWorkItem.work_item_id))
            .where(col(DeploymentWorkItem.deployment_id).in_(keys))
            .order_by(*WORK_ORDER)
        )
        return _distinct((await session.execute(stmt)).all(), keys)


class PullRequestsByDeployment(Loader[uuid.UUID, list[PullRequest]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[PullRequest]]:
        stmt = (
            select(col(DeploymentWorkItem.deployment_id), PullRequest)
            .join(
                PullRequest, col(PullRequest.work_item_id) == col(DeploymentWorkItem.work_item_id)
            )
            .where(col(DeploymentWorkItem.deployment_id).in_(keys))
            .order_by(*PR_ORDER)
        )
        return _distinct((await session.execute(stmt)).all(), keys)


class TicketsByDeployment(Loader[uuid.UUID, list[Ticket]]):
    async def load_batch(self, session: AsyncSession, keys: list[uuid.UUID]) -> list[list[Ticket]]:
        stmt = (
            select(col(DeploymentWorkItem.deployment_id), Ticket)
            .join(TicketLink, col(TicketLink.work_item_id) == col(DeploymentWorkItem.work_item_id))
            .join(Ticket, col(Ticket.id) == col(TicketLink.ticket_id))
            .where(col(DeploymentWorkItem.deployment_id).in_(keys))
            .order_by(col(Ticket.plane_ticket_id))
        )
        return _distinct((await session.execute(stmt)).all(), keys)
