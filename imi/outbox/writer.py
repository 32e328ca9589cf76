"""Write events into the outbox inside the caller's transaction.

The row commits or rolls back with the state change it describes; the relay publishes it later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from imi.correlation import get_correlation_id
from imi.outbox.envelope import build_envelope
from imi.outbox.models import Event
from imi.serialize import jsonable
from imi.settings import get_settings


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One event to record: its type (= routing key), the entity it is about, its payload."""

    event_type: str
    subject_type: str
    subject_id: object
    payload: dict[str, Any]
    v2: bool = False  # a v2-contract name, recorded only while IMI_PUBLISH_V2_EVENTS is on


def work_item_refs(event: PendingEvent) -> list[str]:
    """The work items an event concerns: the subject, or those its payload names."""
    refs: dict[str, None] = {}
    if event.subject_type == "work_item":
        refs[str(event.subject_id)] = None
    single = event.payload.get("work_item_id")
    if single is not None:
        refs[str(single)] = None
    many = event.payload.get("work_item_ids")
    if isinstance(many, list | tuple):
        refs.update((str(item), None) for item in many)
    return list(refs)


async def emit(session: AsyncSession, *events: PendingEvent) -> list[uuid.UUID]:
    """Append events to the outbox in one statement; returns their event ids."""
    publish_v2 = get_settings().publish_v2_events
    correlation_id = get_correlation_id()
    rows: list[dict[str, Any]] = []
    event_ids: list[uuid.UUID] = []
    for event in events:
        if event.v2 and not publish_v2:
            continue
        event_id = uuid.uuid4()
        event_ids.append(event_id)
        rows.append(
            {
                "event_id": event_id,
                "event_type": event.event_type,
                "routing_key": event.event_type,
                "subject_type": event.subject_type,
                "subject_id": str(event.subject_id),
                "correlation_id": correlation_id,
                "work_item_refs": work_item_refs(event),
                "envelope": build_envelope(
                    event_type=event.event_type,
                    payload=jsonable(event.payload),
                    event_id=event_id,
                    correlation_id=correlation_id,
                ),
            }
        )
    if rows:
        await session.execute(insert(Event), rows)
    return event_ids
