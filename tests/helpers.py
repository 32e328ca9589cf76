"""Small assertions shared by the domain tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from imi.outbox.models import Event


async def events_of(session: AsyncSession, event_type: str | None = None) -> list[Event]:
    """Events in the outbox, oldest first, optionally of one type."""
    stmt = select(Event).order_by(Event.id)  # type: ignore[arg-type]
    if event_type:
        stmt = stmt.where(Event.event_type == event_type)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars())


def payload(event: Event) -> dict[str, Any]:
    return dict(event.envelope["payload"])
