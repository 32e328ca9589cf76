"""Project type, its navigation, and the project queries."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from imi.errors import ValidationFailed
from imi.graphql.context import Context
from imi.graphql.events import timeline_field
from imi.graphql.ids import find_id
from imi.graphql.loaders.projects import CountsByProject, ProjectById
from imi.graphql.loaders.work import WorkItemsByProject
from imi.graphql.node import Node, node_resolver
from imi.graphql.pagination import Connection, Window, connection, list_connection
from imi.graphql.rows import FromRow
from imi.projects import service

if TYPE_CHECKING:
    from imi.graphql.components import Component
    from imi.graphql.work import WorkItem, WorkItemFilter

Info = strawberry.Info[Context, None]


@strawberry.type(description="Work counts of a project (active, in flight, uncommitted, unmerged).")
class ProjectCounts:
    active: int
    in_flight: int = strawberry.field(description="Work in flight: every active item (FR-2.4).")
    uncommitted: int = strawberry.field(description="Active work with uncommitted changes.")
    unmerged: int = strawberry.field(description="Active work with commits not on trunk.")


@strawberry.type(description="A git repository, identified by its normalized remote origin.")
class Project(Node, FromRow):
    uuid: UUID
    name: str
    remote_origin: str
    remote_origin_normalized: str
    default_branch: str
    trunk_path: str | None
    description: str | None
    metadata: JSON
    active: bool
    created_at: datetime | None
    updated_at: datetime | None

    @strawberry.field(description="Work on this project, most recently active first.")
    async def work_items(
        self,
        info: Info,
        filter: Annotated[WorkItemFilter, strawberry.lazy("imi.graphql.work")] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[WorkItem, strawberry.lazy("imi.graphql.work")]]:
        from imi.graphql.work import WorkItem, work_query

        window = Window.of(first, after)
        page = await info.context.loaders.get(WorkItemsByProject).one(
            (self.uuid, work_query(filter, window))
        )
        return connection(page, window, WorkItem.from_row)

    @strawberry.field(description="Components of this (meta-)repository, by name.")
    async def components(
        self, info: Info
    ) -> list[Annotated[Component, strawberry.lazy("imi.graphql.components")]]:
        from imi.graphql.components import Component
        from imi.graphql.loaders.components import ComponentsByProject

        rows = await info.context.loaders.get(ComponentsByProject).one(self.uuid)
        return [Component.from_row(row) for row in rows]

    @strawberry.field
    async def counts(self, info: Info) -> ProjectCounts:
        counts = await info.context.loaders.get(CountsByProject).one(self.uuid)
        return ProjectCounts(**counts.model_dump())

    timeline = timeline_field("project", "project (registered, updated, deactivated)")


@node_resolver("Project")
async def load_project(info: Info, project_id: UUID) -> Project | None:
    row = await info.context.loaders.get(ProjectById).one(project_id)
    return Project.from_row(row) if row else None


@strawberry.input(description="Project list filters.")
class ProjectFilter:
    active: bool | None = None
    metadata: JSON | None = strawberry.field(
        default=None, description="A JSON object the project's metadata must contain."
    )


def _json_object(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed("metadata filter must be a JSON object", field="metadata")
    return value


@strawberry.type(description="A search hit.")
class ProjectMatch:
    project: Project
    relevance: float = strawberry.field(description="0..1, 1 for an exact name.")


@strawberry.type
class Query:
    @strawberry.field(description="A project by global id or UUID; null when unknown.")
    async def project(self, info: Info, id: strawberry.ID) -> Project | None:
        project_id = find_id(id, "Project")
        return await load_project(info, project_id) if project_id else None

    @strawberry.field(description="A project by remote origin, in any equivalent spelling.")
    async def project_by_remote_origin(self, info: Info, remote_origin: str) -> Project | None:
        row = await info.context.find(lambda s: service.get_project_by_origin(s, remote_origin))
        return Project.from_row(row) if row else None

    @strawberry.field(description="Projects by name.")
    async def projects(
        self,
        info: Info,
        filter: ProjectFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Project]:
        fetch = partial(
            service.list_projects,
            active=filter.active if filter else None,
            metadata=_json_object(filter.metadata) if filter else None,
        )
        return await list_connection(info.context, Window.of(first, after), fetch, Project.from_row)

    @strawberry.field(description="Fuzzy search on name and remote origin, best first.")
    async def search_projects(self, info: Info, query: str, limit: int = 20) -> list[ProjectMatch]:
        async with info.context.read() as session:
            matches = await service.search_projects(session, query, limit=limit)
        return [
            ProjectMatch(project=Project.from_row(m.project), relevance=m.relevance)
            for m in matches
        ]
