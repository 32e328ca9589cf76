"""WorkItem type, its navigation, and the work queries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, ClassVar
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from imi.graphql.context import Context
from imi.graphql.ids import find_id, parse_any_id
from imi.graphql.loaders.links import (
    DeploymentsByWorkItem,
    PullRequestsByWorkItem,
    TicketsByWorkItem,
)
from imi.graphql.loaders.projects import ProjectById
from imi.graphql.loaders.work import WorkItemById, WorkQuery
from imi.graphql.node import Node, node_resolver
from imi.graphql.pagination import Connection, Window, list_connection
from imi.graphql.rows import FromRow, Reader
from imi.work import queries
from imi.work.models import CompletionType, SourceType, WorkStatus, WorkType

if TYPE_CHECKING:
    from imi.graphql.activities import Activity
    from imi.graphql.agents import Agent
    from imi.graphql.events import Event
    from imi.graphql.links import Deployment, PullRequest, TicketLinkEdge
    from imi.graphql.projects import Project
    from imi.graphql.reservations import Reservation

Info = strawberry.Info[Context, None]


@strawberry.input(description="Work item filters. `active` defaults to all when absent.")
class WorkItemFilter:
    owner_id: str | None = None
    work_type: WorkType | None = None
    status: WorkStatus | None = None
    active: bool | None = None


def work_query(filter: WorkItemFilter | None, window: Window) -> WorkQuery:
    if filter is None:
        return WorkQuery(window=window)
    return WorkQuery(
        window=window,
        owner_id=filter.owner_id,
        work_type=filter.work_type.value if filter.work_type else None,
        status=filter.status.value if filter.status else None,
        active=filter.active,
    )


@strawberry.type(description="A branch in flight on a project (the v2 contract's worktree).")
class WorkItem(Node, FromRow):
    uuid: UUID
    project_id: UUID
    branch_name: str
    name: str
    work_type: WorkType
    source_type: SourceType
    source_ref: str | None
    owner_id: str | None
    worktree_path: str | None
    has_uncommitted_changes: bool
    uncommitted_files_count: int
    ahead_of_trunk: int
    behind_trunk: int
    last_commit_hash: str | None
    last_commit_message: str | None
    last_sync_at: datetime | None
    status: WorkStatus
    last_activity_at: datetime | None
    completed_at: datetime | None
    completion_type: CompletionType | None
    merge_commit_hash: str | None
    merged_by: str | None
    active: bool
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    # The generated column is unset on a row not read back since its insert.
    computed: ClassVar[Mapping[str, Reader]] = {
        "status": lambda row: WorkStatus(row.status or "clean")
    }

    @strawberry.field
    async def project(
        self, info: Info
    ) -> Annotated[Project, strawberry.lazy("imi.graphql.projects")]:
        from imi.graphql.projects import Project

        row = await info.context.loaders.get(ProjectById).one(self.project_id)
        assert row is not None  # foreign key
        return Project.from_row(row)

    @strawberry.field(description="Linked tickets, with how each is linked.")
    async def tickets(
        self, info: Info
    ) -> list[Annotated[TicketLinkEdge, strawberry.lazy("imi.graphql.links")]]:
        from imi.graphql.links import TicketLinkEdge

        rows = await info.context.loaders.get(TicketsByWorkItem).one(self.uuid)
        return [TicketLinkEdge.from_row(row) for row in rows]

    @strawberry.field
    async def pull_requests(
        self, info: Info
    ) -> list[Annotated[PullRequest, strawberry.lazy("imi.graphql.links")]]:
        from imi.graphql.links import PullRequest

        rows = await info.context.loaders.get(PullRequestsByWorkItem).one(self.uuid)
        return [PullRequest.from_row(row) for row in rows]

    @strawberry.field
    async def deployments(
        self, info: Info
    ) -> list[Annotated[Deployment, strawberry.lazy("imi.graphql.links")]]:
        from imi.graphql.links import Deployment

        rows = await info.context.loaders.get(DeploymentsByWorkItem).one(self.uuid)
        return [Deployment.from_row(row) for row in rows]

    @strawberry.field(description="Agent activities on this work item, newest first.")
    async def activities(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Activity, strawberry.lazy("imi.graphql.activities")]]:
        from imi.graphql.activities import activities_of_work_item

        return await activities_of_work_item(info, self.uuid, Window.of(first, after))

    @strawberry.field(
        description="Events about this work item, oldest first: its own and those of its "
        "ticket links, pull requests, deployments and activities."
    )
    async def timeline(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Event, strawberry.lazy("imi.graphql.events")]]:
        from imi.graphql.events import work_item_timeline

        return await work_item_timeline(info, self.uuid, Window.of(first, after))

    @strawberry.field(
        description="Live file reservations on this work item: in its project, held by its "
        "owner or overlapping its worktree (README: Reservations)."
    )
    async def reservations(
        self, info: Info
    ) -> list[Annotated[Reservation, strawberry.lazy("imi.graphql.reservations")]]:
        from imi.graphql.reservations import work_item_reservations

        return await work_item_reservations(info, self.uuid)

    @strawberry.field(
        description="The registered intermute agent whose agentId or name is `ownerId`; null "
        "when no registration carries it."
    )
    async def owner(
        self, info: Info
    ) -> Annotated[Agent, strawberry.lazy("imi.graphql.agents")] | None:
        from imi.graphql.agents import registered_owner

        return await registered_owner(info, self.owner_id)


@node_resolver("WorkItem")
async def load_work_item(info: Info, work_item_id: UUID) -> WorkItem | None:
    row = await info.context.loaders.get(WorkItemById).one(work_item_id)
    return WorkItem.from_row(row) if row else None


@strawberry.type
class Query:
    @strawberry.field(description="A work item by global id or UUID; null when unknown.")
    async def work_item(self, info: Info, id: strawberry.ID) -> WorkItem | None:
        work_item_id = find_id(id, "WorkItem")
        return await load_work_item(info, work_item_id) if work_item_id else None

    @strawberry.field(description="Work items across projects, most recently active first.")
    async def work_items(
        self,
        info: Info,
        filter: WorkItemFilter | None = None,
        project_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WorkItem]:
        return await list_work_items(info, filter, project_id, Window.of(first, after))

    @strawberry.field(description='Active work ("what is agent X working on?").')
    async def in_flight_work(
        self,
        info: Info,
        project_id: strawberry.ID | None = None,
        owner_id: str | None = None,
        work_type: WorkType | None = None,
        status: WorkStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WorkItem]:
        filter = WorkItemFilter(owner_id=owner_id, work_type=work_type, status=status, active=True)
        return await list_work_items(info, filter, project_id, Window.of(first, after))


async def list_work_items(
    info: Info,
    filter: WorkItemFilter | None,
    project_id: strawberry.ID | None,
    window: Window,
) -> Connection[WorkItem]:
    project = parse_any_id(project_id, "Project") if project_id else None
    filters = work_query(filter, window).filters(project)
    fetch = partial(queries.list_work, filters=filters)
    return await list_connection(info.context, window, fetch, WorkItem.from_row)
