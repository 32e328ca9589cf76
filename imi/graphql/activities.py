"""Activity type and activity pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from strawberry.scalars import JSON

from imi.activities.models import Activity as ActivityRow
from imi.activities.models import ActivityType
from imi.graphql.context import Context
from imi.graphql.loaders import Loader
from imi.graphql.loaders.windows import PageOf, windowed
from imi.graphql.loaders.work import WorkItemById
from imi.graphql.node import Node, node_resolver
from imi.graphql.pagination import Connection, Window, connection

if TYPE_CHECKING:
    from imi.graphql.work import WorkItem

Info = strawberry.Info[Context, None]

ORDER = (col(ActivityRow.created_at).desc(), col(ActivityRow.id).desc())


@strawberry.type(description="Something an agent did (v2 activity types).")
class Activity(Node):
    uuid: UUID
    agent_id: str
    work_item_id: UUID | None
    activity_type: ActivityType
    description: str | None
    file_path: str | None
    metadata: JSON
    created_at: datetime | None

    @classmethod
    def from_row(cls, row: ActivityRow) -> Activity:
        return cls(
            id=Node.global_id("Activity", row.id),
            uuid=row.id,
            agent_id=row.agent_id,
            work_item_id=row.work_item_id,
            activity_type=ActivityType(row.activity_type),
            description=row.description,
            file_path=row.file_path,
            metadata=JSON(row.meta),
            created_at=row.created_at,
        )

    @strawberry.field(description="The work item it happened on, if any.")
    async def work_item(
        self, info: Info
    ) -> Annotated[WorkItem, strawberry.lazy("imi.graphql.work")] | None:
        from imi.graphql.work import WorkItem

        if self.work_item_id is None:
            return None
        row = await info.context.loaders.get(WorkItemById).one(self.work_item_id)
        return WorkItem.from_row(row) if row else None


class ActivityById(Loader[UUID, ActivityRow | None]):
    async def load_batch(self, session: AsyncSession, keys: list[UUID]) -> list[ActivityRow | None]:
        stmt = select(ActivityRow).where(col(ActivityRow.id).in_(keys))
        by_id = {row.id: row for row in (await session.execute(stmt)).scalars()}
        return [by_id.get(key) for key in keys]


class ActivitiesByWorkItem(Loader[tuple[UUID, Window], PageOf[ActivityRow]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[tuple[UUID, Window]]
    ) -> list[PageOf[ActivityRow]]:
        return await _pages(session, col(ActivityRow.work_item_id), keys)


class ActivitiesByAgent(Loader[tuple[str, Window], PageOf[ActivityRow]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[tuple[str, Window]]
    ) -> list[PageOf[ActivityRow]]:
        return await _pages(session, col(ActivityRow.agent_id), keys)


async def _pages(
    session: AsyncSession, column: Any, keys: Sequence[tuple[Any, Window]]
) -> list[PageOf[ActivityRow]]:
    results: dict[tuple[Any, Window], PageOf[ActivityRow]] = {}
    for window in {w for _, w in keys}:
        parents = [p for p, w in keys if w == window]
        pages = await windowed(session, ActivityRow, column, parents, window, ORDER)
        for parent in parents:
            results[(parent, window)] = pages.get(parent, PageOf())
    return [results[key] for key in keys]


async def activities_of_work_item(
    info: Info, work_item_id: UUID, window: Window
) -> Connection[Activity]:
    page = await info.context.loaders.get(ActivitiesByWorkItem).one((work_item_id, window))
    return connection(page.items, page.total, window, Activity.from_row)


async def activities_of_agent(info: Info, agent_id: str, window: Window) -> Connection[Activity]:
    page = await info.context.loaders.get(ActivitiesByAgent).one((agent_id, window))
    return connection(page.items, page.total, window, Activity.from_row)


@node_resolver("Activity")
async def load_activity(info: Info, activity_id: UUID) -> Activity | None:
    row = await info.context.loaders.get(ActivityById).one(activity_id)
    return Activity.from_row(row) if row else None
