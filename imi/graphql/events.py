"""Event type (timeline entries from the events table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from sqlalchemy import Text, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from strawberry.scalars import JSON

from imi.graphql.context import Context
from imi.graphql.loaders import Loader
from imi.graphql.loaders.windows import PageOf, windowed
from imi.graphql.pagination import Connection, Window, connection
from imi.outbox.models import Event as EventRow

Info = strawberry.Info[Context, None]

ORDER = (col(EventRow.id),)


@strawberry.type(description="A domain event: one entry of an entity's timeline.")
class Event:
    event_id: UUID
    event_type: str
    subject_type: str
    subject_id: str
    correlation_id: str | None
    payload: JSON
    envelope: JSON
    created_at: datetime | None
    published_at: datetime | None

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        return cls(
            event_id=row.event_id,
            event_type=row.event_type,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            correlation_id=row.correlation_id,
            payload=JSON(row.envelope.get("payload", {})),
            envelope=JSON(row.envelope),
            created_at=row.created_at,
            published_at=row.published_at,
        )


class EventsBySubject(Loader[tuple[str, str, Window], PageOf[EventRow]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[tuple[str, str, Window]]
    ) -> list[PageOf[EventRow]]:
        results: dict[tuple[str, str, Window], PageOf[EventRow]] = {}
        for subject_type, window in {(t, w) for t, _, w in keys}:
            ids = [i for t, i, w in keys if t == subject_type and w == window]
            pages = await windowed(
                session,
                EventRow,
                col(EventRow.subject_id),
                ids,
                window,
                ORDER,
                [col(EventRow.subject_type) == subject_type],
            )
            for subject_id in ids:
                results[(subject_type, subject_id, window)] = pages.get(subject_id, PageOf())
        return [results[key] for key in keys]


class EventsByWorkItem(Loader[tuple[str, Window], PageOf[EventRow]]):
    """A work item's timeline: its own events and those of its links and activities (every
    event whose ``work_item_refs`` names it), one statement for all the work items asked."""

    async def load_batch(
        self, session: AsyncSession, keys: list[tuple[str, Window]]
    ) -> list[PageOf[EventRow]]:
        results: dict[tuple[str, Window], PageOf[EventRow]] = {}
        refs_column: Any = col(EventRow.work_item_refs)  # an ARRAY column: has .overlap()
        for window in {w for _, w in keys}:
            ids = [i for i, w in keys if w == window]
            refs = (
                select(
                    col(EventRow.id).label("event_row_id"),
                    func.unnest(refs_column).label("work_item_id"),
                )
                .where(refs_column.overlap(cast(ids, ARRAY(Text))))
                .subquery()
            )
            pages = await windowed(
                session,
                EventRow,
                refs.c.work_item_id,
                ids,
                window,
                ORDER,
                [col(EventRow.id) == refs.c.event_row_id],
            )
            for work_item_id in ids:
                results[(work_item_id, window)] = pages.get(work_item_id, PageOf())
        return [results[key] for key in keys]


async def work_item_timeline(info: Info, work_item_id: UUID, window: Window) -> Connection[Event]:
    page = await info.context.loaders.get(EventsByWorkItem).one((str(work_item_id), window))
    return connection(page.items, page.total, window, Event.from_row)


async def timeline_of(
    info: Info, subject_type: str, subject_id: UUID, window: Window
) -> Connection[Event]:
    key = (subject_type, str(subject_id), window)
    page = await info.context.loaders.get(EventsBySubject).one(key)
    return connection(page.items, page.total, window, Event.from_row)


def timeline_field(subject_type: str, entity: str) -> Any:
    """The ``timeline`` field of a node whose events have ``subject_type`` (one per type)."""

    async def timeline(
        root: Any, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Event]:
        return await timeline_of(info, subject_type, root.uuid, Window.of(first, after))

    return strawberry.field(
        resolver=timeline, description=f"Events about this {entity}, oldest first."
    )
