"""Loaders for work items, including per-project and per-owner pages (one statement each)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from imi.batches import PageOf
from imi.graphql.loaders import NO_META, ById, Pages
from imi.graphql.pagination import Window
from imi.work import plain_queries
from imi.work.models import WorkFilter, WorkItem, WorkStatus


@dataclass(frozen=True, slots=True)
class WorkQuery:
    """Filters and window of a work-item list; hashable so it can be part of a loader key."""

    window: Window
    owner_id: str | None = None
    work_type: str | None = None
    status: str | None = None
    active: bool | None = None

    def filters(self, project_id: uuid.UUID | None = None) -> WorkFilter:
        """The domain's filter (``active`` absent means all, not only active work)."""
        return WorkFilter(
            project_id=project_id,
            owner_id=self.owner_id,
            work_type=self.work_type,
            status=WorkStatus(self.status) if self.status else None,
            active=self.active,
        )


# Plain rows with the work item's attributes (imi.work.plain_queries), not ORM instances.
WorkPage = PageOf[Any]


class WorkItemById(ById[WorkItem], model=WorkItem):
    pass


class WorkPages(Pages[Any, WorkQuery, Any]):
    """One page of work items per project or per owner (``parent``) under one query."""

    parent: ClassVar[Literal["project", "owner"]]
    omit: ClassVar[tuple[str, ...]] = ()

    async def fetch(
        self, session: AsyncSession, query: WorkQuery, parents: list[Any]
    ) -> dict[Any, WorkPage]:
        window, filters = query.window, query.filters()
        return await plain_queries.work_page_rows(
            session,
            self.parent,
            parents,
            filters,
            offset=window.offset,
            limit=window.limit,
            omit=self.omit,
        )


class WorkItemsByProject(WorkPages):
    parent = "project"


class WorkItemsByOwner(WorkPages):
    parent = "owner"


class WorkItemsByProjectLean(WorkItemsByProject):
    """Without ``meta``, for a document that reads no metadata (no JSON decoded per row)."""

    omit = NO_META
