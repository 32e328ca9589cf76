"""Event type (timeline entries from the events table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.batches import PageOf
from imi.graphql.context import Context
from imi.graphql.loaders import Pages
from imi.graphql.pagination import Connection, Window, connection
from imi.graphql.rows import FromRow, Reader
from imi.outbox import timeline
from imi.outbox.models import Event as EventRow

Info = strawberry.Info[Context, None]


@strawberry.type(description="A domain event: one entry of an entity's timeline.")
class Event(FromRow):
    event_id: UUID
    event_type: str
    subject_type: str
    subject_id: str
    correlation_id: str | None
    payload: JSON
    envelope: JSON
    created_at: datetime | None
    published_at: datetime | None

    computed: ClassVar[Mapping[str, Reader]] = {
        "payload": lambda row: row.envelope.get("payload", {})
    }


class EventsBySubject(Pages[str, tuple[str, Window], EventRow]):
    """Keys ``(subject id, (subject type, window))``: one statement per type and window."""

    async def fetch(
        self, session: AsyncSession, group: tuple[str, Window], parents: list[str]
    ) -> dict[str, PageOf[EventRow]]:
        subject_type, window = group
        return await timeline.event_pages_by_subject(
            session, subject_type, parents, offset=window.offset, limit=window.limit
        )


class EventsByWorkItem(Pages[str, Window, EventRow]):
    """A work item's timeline: its own events and those of its links and activities."""

    async def fetch(
        self, session: AsyncSession, window: Window, parents: list[str]
    ) -> dict[str, PageOf[EventRow]]:
        return await timeline.event_pages_by_work_item(
            session, parents, offset=window.offset, limit=window.limit
        )


async def work_item_timeline(info: Info, work_item_id: UUID, window: Window) -> Connection[Event]:
    page = await info.context.loaders.get(EventsByWorkItem).one((str(work_item_id), window))
    return connection(page, window, Event.from_row)


async def timeline_of(
    info: Info, subject_type: str, subject_id: UUID, window: Window
) -> Connection[Event]:
    key = (str(subject_id), (subject_type, window))
    page = await info.context.loaders.get(EventsBySubject).one(key)
    return connection(page, window, Event.from_row)


def timeline_field(subject_type: str, entity: str) -> Any:
    """The ``timeline`` field of a node whose events have ``subject_type`` (one per type)."""

    async def timeline(
        root: Any, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await timeline_of(info, subject_type, root.uuid, Window.of(first, after))

    return strawberry.field(
        resolver=timeline, description=f"Events about this {entity}, oldest first."
    )
