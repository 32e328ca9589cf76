"""Event type (timeline entries from the events table)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from strawberry.scalars import JSON

from imi.events.models import Event as EventRow
from imi.graphql.context import Context
from imi.graphql.loaders import Loader
from imi.graphql.loaders.windows import PageOf, windowed
from imi.graphql.pagination import Connection, Window, connection

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


async def timeline_of(
    info: Info, subject_type: str, subject_id: UUID, window: Window
) -> Connection[Event]:
    key = (subject_type, str(subject_id), window)
    page = await info.context.loaders.get(EventsBySubject).one(key)
    return connection(page.items, page.total, window, Event.from_row)
