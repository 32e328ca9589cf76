"""Loaders between work items, tickets, pull requests and deployments (each way).

A pull request belongs to one work item, so its tickets and deployments are those of its work
item: ``PullRequest`` fields reuse the ``...ByWorkItem`` loaders with the PR's work item id and
share their batches.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from imi.graphql.loaders import ById, Loader, Related, grouped
from imi.links import queries
from imi.links.models import Deployment, PullRequest, Ticket, TicketLink
from imi.work.models import WorkItem


class TicketById(ById[Ticket], model=Ticket):
    pass


class PullRequestById(ById[PullRequest], model=PullRequest):
    pass


class DeploymentById(ById[Deployment], model=Deployment):
    pass


# --- from work items -------------------------------------------------------------------------


class TicketsByWorkItem(Loader[uuid.UUID, list[tuple[Ticket, TicketLink]]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[tuple[Ticket, TicketLink]]]:
        rows = await queries.tickets_of_work_items(session, keys)
        return grouped([(link.work_item_id, (ticket, link)) for ticket, link in rows], keys)


class PullRequestsByWorkItem(Loader[uuid.UUID, list[PullRequest]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[PullRequest]]:
        rows = await queries.pull_requests_of_work_items(session, keys)
        return grouped([(pr.work_item_id, pr) for pr in rows], keys)


class DeploymentsByWorkItem(Related[Deployment], query=queries.deployments_of_work_items):
    pass


# --- from tickets ----------------------------------------------------------------------------


class WorkItemsByTicket(Related[WorkItem], query=queries.work_items_of_tickets):
    pass


class PullRequestsByTicket(Related[PullRequest], query=queries.pull_requests_of_tickets):
    pass


class DeploymentsByTicket(Related[Deployment], query=queries.deployments_of_tickets):
    pass


# --- from deployments ------------------------------------------------------------------------


class WorkItemsByDeployment(Related[WorkItem], query=queries.work_items_of_deployments):
    pass


class PullRequestsByDeployment(Related[PullRequest], query=queries.pull_requests_of_deployments):
    pass


class TicketsByDeployment(Related[Ticket], query=queries.tickets_of_deployments):
    pass
