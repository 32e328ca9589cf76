"""Loaders for work items, including per-project pages batched with window functions."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.graphql.loaders import Loader
from imi.graphql.loaders.windows import PageOf, windowed
from imi.graphql.pagination import Window
from imi.work.models import WorkItem
from imi.work.naming import parse_work_type


@dataclass(frozen=True, slots=True)
class WorkQuery:
    """Filters and window of a work-item list; hashable so it can be part of a loader key."""

    window: Window
    owner_id: str | None = None
    work_type: str | None = None
    status: str | None = None
    active: bool | None = None

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.owner_id is not None:
            conditions.append(col(WorkItem.owner_id) == self.owner_id)
        if self.work_type is not None:
            conditions.append(col(WorkItem.work_type) == parse_work_type(self.work_type).value)
        if self.status is not None:
            conditions.append(col(WorkItem.status) == self.status)
        if self.active is not None:
            conditions.append(col(WorkItem.active).is_(self.active))
        return conditions


WorkPage = PageOf[WorkItem]


class WorkItemById(Loader[uuid.UUID, WorkItem | None]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[WorkItem | None]:
        stmt = select(WorkItem).where(col(WorkItem.id).in_(keys))
        by_id = {row.id: row for row in (await session.execute(stmt)).scalars()}
        return [by_id.get(key) for key in keys]


ORDER = (col(WorkItem.last_activity_at).desc(), col(WorkItem.id))


async def pages_by(
    session: AsyncSession, parent_column: Any, parents: list[Any], query: WorkQuery
) -> dict[Any, WorkPage]:
    return await windowed(
        session, WorkItem, parent_column, parents, query.window, ORDER, query.conditions()
    )


class WorkItemsByProject(Loader[tuple[uuid.UUID, WorkQuery], WorkPage]):
    async def load_batch(
        self, session: AsyncSession, keys: list[tuple[uuid.UUID, WorkQuery]]
    ) -> list[WorkPage]:
        by_query: dict[WorkQuery, list[uuid.UUID]] = defaultdict(list)
        for project_id, query in keys:
            by_query[query].append(project_id)
        results: dict[tuple[uuid.UUID, WorkQuery], WorkPage] = {}
        for query, project_ids in by_query.items():
            pages = await pages_by(session, col(WorkItem.project_id), project_ids, query)
            for project_id in project_ids:
                results[(project_id, query)] = pages.get(project_id, PageOf())
        return [results[key] for key in keys]


class WorkItemsByOwner(Loader[tuple[str, WorkQuery], WorkPage]):
    async def load_batch(
        self, session: AsyncSession, keys: list[tuple[str, WorkQuery]]
    ) -> list[WorkPage]:
        by_query: dict[WorkQuery, list[str]] = defaultdict(list)
        for owner_id, query in keys:
            by_query[query].append(owner_id)
        results: dict[tuple[str, WorkQuery], WorkPage] = {}
        for query, owners in by_query.items():
            pages = await pages_by(session, col(WorkItem.owner_id), owners, query)
            for owner in owners:
                results[(owner, query)] = pages.get(owner, PageOf())
        return [results[key] for key in keys]
