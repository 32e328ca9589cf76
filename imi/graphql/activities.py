"""Activity type and activity pages."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.activities.models import Activity as ActivityRow
from imi.activities.models import ActivityType
from imi.activities.queries import activity_pages
from imi.batches import PageOf
from imi.graphql.context import Context
from imi.graphql.loaders import ById, Pages
from imi.graphql.loaders.work import WorkItemById
from imi.graphql.node import Node, node_resolver
from imi.graphql.pagination import Connection, Window, connection
from imi.graphql.rows import FromRow

if TYPE_CHECKING:
    from imi.graphql.work import WorkItem

Info = strawberry.Info[Context, None]


@strawberry.type(description="Something an agent did (v2 activity types).")
class Activity(Node, FromRow):
    uuid: UUID
    agent_id: str
    work_item_id: UUID | None
    activity_type: ActivityType
    description: str | None
    file_path: str | None
    metadata: JSON
    created_at: datetime | None

    @strawberry.field(description="The work item it happened on, if any.")
    async def work_item(
        self, info: Info
    ) -> Annotated[WorkItem, strawberry.lazy("imi.graphql.work")] | None:
        from imi.graphql.work import WorkItem

        if self.work_item_id is None:
            return None
        row = await info.context.loaders.get(WorkItemById).one(self.work_item_id)
        return WorkItem.from_row(row) if row else None


class ActivityById(ById[ActivityRow], model=ActivityRow):
    pass


class ActivityPages(Pages[Any, Window, ActivityRow]):
    """One page of activities per work item or per agent (``parent``), newest first."""

    parent: ClassVar[Literal["work_item", "agent"]]

    async def fetch(
        self, session: AsyncSession, window: Window, parents: list[Any]
    ) -> dict[Any, PageOf[ActivityRow]]:
        return await activity_pages(
            session, self.parent, parents, offset=window.offset, limit=window.limit
        )


class ActivitiesByWorkItem(ActivityPages):
    parent = "work_item"


class ActivitiesByAgent(ActivityPages):
    parent = "agent"


async def activities_of_work_item(
    info: Info, work_item_id: UUID, window: Window
) -> Connection[Activity]:
    page = await info.context.loaders.get(ActivitiesByWorkItem).one((work_item_id, window))
    return connection(page, window, Activity.from_row)


async def activities_of_agent(info: Info, agent_id: str, window: Window) -> Connection[Activity]:
    page = await info.context.loaders.get(ActivitiesByAgent).one((agent_id, window))
    return connection(page, window, Activity.from_row)


@node_resolver("Activity")
async def load_activity(info: Info, activity_id: UUID) -> Activity | None:
    row = await info.context.loaders.get(ActivityById).one(activity_id)
    return Activity.from_row(row) if row else None
