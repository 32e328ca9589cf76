"""Write events into the outbox inside the caller's transaction.

The row commits or rolls back with the state change it describes; the relay publishes it later.
All the events of one ``emit`` go in one statement of one shape, whatever their number: the
rows travel as one JSON array (encoded by the C encoder) and are inserted in their order, so
ids follow it (the relay publishes one subject's events in id order).

A consumer records the message it handles in ``processed_messages`` in the same transaction as
the effect. ``claim_with_events`` lets the first ``emit`` of the transaction carry that record
in its statement (no round trip of its own); a message already recorded makes that ``emit``
raise ``AlreadyProcessed``, and the consumer rolls the transaction back.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.correlation import get_correlation_id
from imi.outbox.envelope import build_envelope
from imi.serialize import jsonable
from imi.settings import get_settings

_EVENTS = """
    INSERT INTO events (event_id, event_type, routing_key, subject_type, subject_id,
                        correlation_id, work_item_refs, envelope)
    SELECT (r ->> 'event_id')::uuid, r ->> 'event_type', r ->> 'event_type',
           r ->> 'subject_type', r ->> 'subject_id', r ->> 'correlation_id',
           ARRAY(SELECT jsonb_array_elements_text(r -> 'work_item_refs')), r -> 'envelope'
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS t(r, n)
    ORDER BY n
"""
_INSERT = text(_EVENTS)
# Both inserts run whatever the claim finds; a duplicate's transaction is rolled back anyway.
_INSERT_CLAIMING = text(
    "WITH claimed AS (INSERT INTO processed_messages (consumer, message_id) "
    "VALUES (:consumer, :message_id) ON CONFLICT DO NOTHING RETURNING 1), "
    f"inserted AS ({_EVENTS}) SELECT count(*) FROM claimed"
)
_CLAIM_KEY = "imi.outbox.claim"


class AlreadyProcessed(Exception):
    """The consumed message was recorded by an earlier transaction: roll this one back."""


def claim_with_events(session: AsyncSession, consumer: str, message_id: str) -> None:
    """Record ``(consumer, message_id)`` as processed with the next events ``session`` writes."""
    session.info[_CLAIM_KEY] = (consumer, message_id)


def unclaimed(session: AsyncSession) -> tuple[str, str] | None:
    """The claim no ``emit`` has written yet (the caller records it itself), if any."""
    claim: tuple[str, str] | None = session.info.pop(_CLAIM_KEY, None)
    return claim


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
                "event_id": str(event_id),
                "event_type": event.event_type,
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
    if not rows:
        return event_ids
    claim = unclaimed(session)
    if claim is None:
        await session.execute(_INSERT, {"rows": json.dumps(rows)})
        return event_ids
    consumer, message_id = claim
    params = {"rows": json.dumps(rows), "consumer": consumer, "message_id": message_id}
    if not (await session.execute(_INSERT_CLAIMING, params)).scalar_one():
        raise AlreadyProcessed(f"{consumer} already processed {message_id}")
    return event_ids
