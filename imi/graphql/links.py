"""Ticket, PullRequest and Deployment types."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from imi.graphql.context import Context
from imi.graphql.node import Node
from imi.links.models import Deployment as DeploymentRow
from imi.links.models import LinkKind, PRState
from imi.links.models import PullRequest as PullRequestRow
from imi.links.models import Ticket as TicketRow
from imi.links.models import TicketLink as TicketLinkRow

Info = strawberry.Info[Context, None]


@strawberry.type(description="A Plane ticket (natural key `planeTicketId`, e.g. PROJ-123).")
class Ticket(Node):
    uuid: UUID
    plane_ticket_id: str
    title: str | None
    url: str | None
    state: str | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: TicketRow) -> Ticket:
        return cls(
            id=Node.global_id("Ticket", row.id),
            uuid=row.id,
            plane_ticket_id=row.plane_ticket_id,
            title=row.title,
            url=row.url,
            state=row.state,
            metadata=JSON(row.meta),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A ticket linked to a work item, and how.")
class TicketLinkEdge:
    kind: LinkKind
    ticket: Ticket
    linked_at: datetime | None

    @classmethod
    def from_rows(cls, ticket: TicketRow, link: TicketLinkRow) -> TicketLinkEdge:
        return cls(
            kind=LinkKind(link.kind), ticket=Ticket.from_row(ticket), linked_at=link.created_at
        )


@strawberry.type(description="A pull request linked to a work item.")
class PullRequest(Node):
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

    @classmethod
    def from_row(cls, row: PullRequestRow) -> PullRequest:
        return cls(
            id=Node.global_id("PullRequest", row.id),
            uuid=row.id,
            project_id=row.project_id,
            work_item_id=row.work_item_id,
            number=row.number,
            url=row.url,
            title=row.title,
            state=PRState(row.state),
            opened_at=row.opened_at,
            merged_at=row.merged_at,
            closed_at=row.closed_at,
            metadata=JSON(row.meta),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A deployment shipping one or many work items.")
class Deployment(Node):
    uuid: UUID
    deploy_id: str
    environment: str
    commit_hash: str | None
    status: str
    deployed_at: datetime | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: DeploymentRow) -> Deployment:
        return cls(
            id=Node.global_id("Deployment", row.id),
            uuid=row.id,
            deploy_id=row.deploy_id,
            environment=row.environment,
            commit_hash=row.commit_hash,
            status=row.status,
            deployed_at=row.deployed_at,
            metadata=JSON(row.meta),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
