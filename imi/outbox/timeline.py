"""Entity timelines read from the event log: pages of events per subject or per work item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import PageOf, windowed
from imi.outbox.models import Event

OLDEST_FIRST = (col(Event.id),)


async def event_pages_by_subject(
    session: AsyncSession,
    subject_type: str,
    subject_ids: Sequence[str],
    *,
    offset: int,
    limit: int,
) -> dict[str, PageOf[Event]]:
    """One page of the events about each subject (of one type), oldest first."""
    return await windowed(
        session,
        Event,
        col(Event.subject_id),
        subject_ids,
        offset=offset,
        limit=limit,
        order_by=OLDEST_FIRST,
        conditions=[col(Event.subject_type) == subject_type],
    )


async def event_pages_by_work_item(
    session: AsyncSession, work_item_ids: Sequence[str], *, offset: int, limit: int
) -> dict[str, PageOf[Event]]:
    """A work item's timeline: its own events and those of its links and activities (every
    event whose ``work_item_refs`` names it), one page per work item, oldest first."""
    refs_column: Any = col(Event.work_item_refs)  # an ARRAY column: has .overlap()
    refs = (
        select(
            col(Event.id).label("event_row_id"),
            func.unnest(refs_column, type_=Text).label("work_item_id"),
        )
        .where(refs_column.overlap(cast(list(work_item_ids), ARRAY(Text))))
        .subquery()
    )
    return await windowed(
        session,
        Event,
        refs.c.work_item_id,
        work_item_ids,
        offset=offset,
        limit=limit,
        order_by=OLDEST_FIRST,
        conditions=[col(Event.id) == refs.c.event_row_id],
    )
