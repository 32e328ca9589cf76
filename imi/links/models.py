"""Tickets, pull requests and deployments, and how they attach to work items."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, BaseModel
from pydantic import Field as InputField
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from imi.models_base import (
    NOW,
    PG_INT_MAX,
    CoreTable,
    Identifier,
    Input,
    Metadata,
    Name,
    Title,
    UrlText,
    one_of,
    tstz,
)

# Most work items one deployment call may ship.
MAX_DEPLOY_WORK_ITEMS = 1000


class LinkKind(StrEnum):
    CLOSES = "closes"
    REFERENCES = "references"


class PRState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"


class Ticket(CoreTable, table=True):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_metadata", "metadata", postgresql_using="gin"),)

    plane_ticket_id: str = Field(unique=True)  # natural key, e.g. PROJ-123
    title: str | None = None
    url: str | None = None
    state: str | None = None


class TicketLink(CoreTable, table=True):
    __tablename__ = "ticket_links"
    __table_args__ = (
        UniqueConstraint("ticket_id", "work_item_id", name="uq_ticket_links_ticket_work"),
        CheckConstraint(one_of("kind", LinkKind), name="ck_ticket_links_kind"),
    )

    ticket_id: uuid.UUID = Field(foreign_key="tickets.id", ondelete="CASCADE")
    work_item_id: uuid.UUID = Field(foreign_key="work_items.id", ondelete="CASCADE", index=True)
    kind: str = LinkKind.REFERENCES.value


class PullRequest(CoreTable, table=True):
    __tablename__ = "pull_requests"
    __table_args__ = (
        UniqueConstraint("project_id", "number", name="uq_pull_requests_project_number"),
        CheckConstraint(one_of("state", PRState), name="ck_pull_requests_state"),
        CheckConstraint("number > 0", name="ck_pull_requests_number"),
    )

    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    work_item_id: uuid.UUID = Field(foreign_key="work_items.id", ondelete="CASCADE", index=True)
    number: int
    url: str = Field(unique=True)
    title: str | None = None
    state: str = PRState.OPEN.value
    opened_at: datetime | None = Field(
        default=None, sa_type=tstz(), sa_column_kwargs={"server_default": NOW}
    )
    merged_at: datetime | None = Field(default=None, sa_type=tstz())
    closed_at: datetime | None = Field(default=None, sa_type=tstz())


class Deployment(CoreTable, table=True):
    __tablename__ = "deployments"

    deploy_id: str = Field(unique=True)
    environment: str
    commit_hash: str | None = None
    status: str = "succeeded"
    deployed_at: datetime | None = Field(
        default=None, sa_type=tstz(), sa_column_kwargs={"server_default": NOW}
    )


class DeploymentWorkItem(SQLModel, table=True):
    __tablename__ = "deployment_work_items"

    deployment_id: uuid.UUID = Field(
        foreign_key="deployments.id", ondelete="CASCADE", primary_key=True
    )
    work_item_id: uuid.UUID = Field(
        foreign_key="work_items.id", ondelete="CASCADE", primary_key=True, index=True
    )
    created_at: datetime | None = Field(
        default=None, sa_type=tstz(), sa_column_kwargs={"server_default": NOW, "nullable": False}
    )


class TicketLinkInput(Input):
    """Link a ticket to a work item. The ticket's fields take the PRD's names (``ticket_title``,
    ``ticket_url``, ``ticket_state``) or the short ones (``title``, ``url``, ``state``)."""

    work_item_id: uuid.UUID
    plane_ticket_id: Identifier
    title: Title | None = InputField(
        default=None, validation_alias=AliasChoices("ticket_title", "title")
    )
    url: UrlText | None = InputField(
        default=None, validation_alias=AliasChoices("ticket_url", "url")
    )
    state: Name | None = InputField(
        default=None, validation_alias=AliasChoices("ticket_state", "state")
    )
    kind: LinkKind = LinkKind.REFERENCES
    metadata: Metadata = InputField(default_factory=dict)


class PullRequestInput(Input):
    """Create a PR link, or move an existing one (same url) to ``pr_state``."""

    work_item_id: uuid.UUID
    pr_number: int = InputField(gt=0, le=PG_INT_MAX)  # an integer column
    pr_url: UrlText
    pr_state: PRState = PRState.OPEN
    title: Title | None = InputField(
        default=None, validation_alias=AliasChoices("pr_title", "title")
    )
    metadata: Metadata = InputField(default_factory=dict)


class DeploymentInput(Input):
    """Record a deployment shipping one or many work items (idempotent on ``deploy_id``)."""

    deploy_id: Identifier
    environment: Name
    work_item_ids: list[uuid.UUID] = InputField(min_length=1, max_length=MAX_DEPLOY_WORK_ITEMS)
    commit_hash: Identifier | None = None
    status: Name = "succeeded"
    deployed_at: datetime | None = None
    metadata: Metadata = InputField(default_factory=dict)


class TicketLinkResult(BaseModel):
    ticket: Ticket
    link: TicketLink
    created: bool  # a new ticket_links row
    ticket_created: bool = False  # the ticket row was new too
    changed: bool = False  # created, or an existing link's kind/metadata moved


class PullRequestResult(BaseModel):
    pull_request: PullRequest
    created: bool
    previous_state: PRState | None  # None when created
    changed: bool = False  # any column changed (a transition, a new title, metadata)


class DeploymentResult(BaseModel):
    deployment: Deployment
    created: bool
    added_work_item_ids: list[uuid.UUID]  # newly attached by this call
    work_item_ids: list[uuid.UUID]  # everything the deployment ships
    changed: bool = False
