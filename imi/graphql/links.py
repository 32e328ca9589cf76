"""Ticket, PullRequest and Deployment types, their navigation, and their queries.

Every navigation field goes through a per-request loader (``imi.graphql.loaders.links``).
A pull request belongs to one work item: its tickets and deployments are its work item's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from imi.errors import ValidationFailed
from imi.graphql.context import Context
from imi.graphql.events import timeline_field
from imi.graphql.ids import find_id
from imi.graphql.loaders.links import (
    DeploymentById,
    DeploymentsByTicket,
    DeploymentsByWorkItem,
    PullRequestById,
    PullRequestsByDeployment,
    PullRequestsByTicket,
    TicketById,
    TicketsByDeployment,
    TicketsByWorkItem,
    WorkItemsByDeployment,
    WorkItemsByTicket,
)
from imi.graphql.loaders.projects import ProjectById
from imi.graphql.loaders.work import WorkItemById
from imi.graphql.node import Node, node_resolver
from imi.graphql.rows import FromRow
from imi.links import service
from imi.links.models import LinkKind, PRState
from imi.work.models import WorkItem as WorkItemRow

if TYPE_CHECKING:
    from imi.graphql.projects import Project
    from imi.graphql.work import WorkItem

Info = strawberry.Info[Context, None]


def _work_items(rows: list[WorkItemRow]) -> list[WorkItem]:
    from imi.graphql.work import WorkItem

    return [WorkItem.from_row(row) for row in rows]


@strawberry.type(description="A Plane ticket (natural key `planeTicketId`, e.g. PROJ-123).")
class Ticket(Node, FromRow):
    uuid: UUID
    plane_ticket_id: str
    title: str | None
    url: str | None
    state: str | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(description="Work items linked to this ticket, most recently active first.")
    async def work_items(
        self, info: Info
    ) -> list[Annotated[WorkItem, strawberry.lazy("imi.graphql.work")]]:
        return _work_items(await info.context.loaders.get(WorkItemsByTicket).one(self.uuid))

    @strawberry.field(description="Pull requests of the linked work items, oldest first.")
    async def pull_requests(self, info: Info) -> list[PullRequest]:
        rows = await info.context.loaders.get(PullRequestsByTicket).one(self.uuid)
        return [PullRequest.from_row(row) for row in rows]

    @strawberry.field(description="Deployments shipping the linked work items, newest first.")
    async def deployments(self, info: Info) -> list[Deployment]:
        rows = await info.context.loaders.get(DeploymentsByTicket).one(self.uuid)
        return [Deployment.from_row(row) for row in rows]

    timeline = timeline_field("ticket", "ticket (created, updated, linked to work)")


@strawberry.type(description="A ticket linked to a work item, and how.")
class TicketLinkEdge:
    kind: LinkKind
    ticket: Ticket
    linked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> TicketLinkEdge:
        """From a row of ``TicketsByWorkItem``: the ticket's columns, ``kind``, ``linked_at``."""
        return cls(kind=LinkKind(row.kind), ticket=Ticket.from_row(row), linked_at=row.linked_at)


@strawberry.type(description="A pull request linked to a work item.")
class PullRequest(Node, FromRow):
    uuid: UUID
    project_id: UUID
    work_item_id: UUID
    number: int
    url: str
    title: str | None
    state: PRState
    opened_at: datetime | None
    merged_at: datetime | None
    closed_at: datetime | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(description="The work item (branch) this pull request was opened from.")
    async def work_item(
        self, info: Info
    ) -> Annotated[WorkItem, strawberry.lazy("imi.graphql.work")]:
        row = await info.context.loaders.get(WorkItemById).one(self.work_item_id)
        assert row is not None  # foreign key
        return _work_items([row])[0]

    @strawberry.field
    async def project(
        self, info: Info
    ) -> Annotated[Project, strawberry.lazy("imi.graphql.projects")]:
        from imi.graphql.projects import Project

        row = await info.context.loaders.get(ProjectById).one(self.project_id)
        assert row is not None  # foreign key
        return Project.from_row(row)

    @strawberry.field(description="Tickets linked to this pull request's work item.")
    async def tickets(self, info: Info) -> list[Ticket]:
        rows = await info.context.loaders.get(TicketsByWorkItem).one(self.work_item_id)
        return [Ticket.from_row(row) for row in rows]

    @strawberry.field(description="Deployments that shipped this pull request's work item.")
    async def deployments(self, info: Info) -> list[Deployment]:
        rows = await info.context.loaders.get(DeploymentsByWorkItem).one(self.work_item_id)
        return [Deployment.from_row(row) for row in rows]

    timeline = timeline_field("pull_request", "pull request (opened, merged, closed, ...)")


@strawberry.type(description="A deployment shipping one or many work items.")
class Deployment(Node, FromRow):
    uuid: UUID
    deploy_id: str
    environment: str
    commit_hash: str | None
    status: str
    deployed_at: datetime | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(description="The work items this deployment shipped.")
    async def work_items(
        self, info: Info
    ) -> list[Annotated[WorkItem, strawberry.lazy("imi.graphql.work")]]:
        return _work_items(await info.context.loaders.get(WorkItemsByDeployment).one(self.uuid))

    @strawberry.field(description="Pull requests of the shipped work items, oldest first.")
    async def pull_requests(self, info: Info) -> list[PullRequest]:
        rows = await info.context.loaders.get(PullRequestsByDeployment).one(self.uuid)
        return [PullRequest.from_row(row) for row in rows]

    @strawberry.field(description="Tickets linked to the shipped work items.")
    async def tickets(self, info: Info) -> list[Ticket]:
        rows = await info.context.loaders.get(TicketsByDeployment).one(self.uuid)
        return [Ticket.from_row(row) for row in rows]

    timeline = timeline_field("deployment", "deployment (recorded, updated)")


@node_resolver("Ticket")
async def load_ticket(info: Info, ticket_id: UUID) -> Ticket | None:
    row = await info.context.loaders.get(TicketById).one(ticket_id)
    return Ticket.from_row(row) if row else None


@node_resolver("PullRequest")
async def load_pull_request(info: Info, pr_id: UUID) -> PullRequest | None:
    row = await info.context.loaders.get(PullRequestById).one(pr_id)
    return PullRequest.from_row(row) if row else None


@node_resolver("Deployment")
async def load_deployment(info: Info, deployment_id: UUID) -> Deployment | None:
    row = await info.context.loaders.get(DeploymentById).one(deployment_id)
    return Deployment.from_row(row) if row else None


@strawberry.type
class Query:
    @strawberry.field(description="A ticket by its Plane id (e.g. PROJ-123); null when unknown.")
    async def ticket(self, info: Info, plane_ticket_id: str) -> Ticket | None:
        row = await info.context.find(lambda s: service.get_ticket(s, plane_ticket_id))
        return Ticket.from_row(row) if row else None

    @strawberry.field(
        description="A pull request by url, or by `id` (global id or UUID); null when unknown. "
        "Give exactly one of the two."
    )
    async def pull_request(
        self, info: Info, url: str | None = None, id: strawberry.ID | None = None
    ) -> PullRequest | None:
        if (url is None) == (id is None):
            raise ValidationFailed("give exactly one of url and id", field="url")
        if id is not None:
            pr_id = find_id(id, "PullRequest")
            return await load_pull_request(info, pr_id) if pr_id else None
        row = await info.context.find(lambda s: service.get_pull_request(s, str(url)))
        return PullRequest.from_row(row) if row else None

    @strawberry.field(description="A deployment by its deploy id; null when unknown.")
    async def deployment(self, info: Info, deploy_id: str) -> Deployment | None:
        row = await info.context.find(lambda s: service.get_deployment(s, deploy_id))
        return Deployment.from_row(row) if row else None
