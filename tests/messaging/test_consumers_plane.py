"""Plane consumer: ``plane.ticket.*`` (PRD) and ``webhook.plane.*`` (the webhook relay)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.links.models import Ticket
from tests.messaging.conftest import Bus
from tests.messaging.consumers_support import (
    dead_letters,
    envelope,
    event_types,
    processed_count,
    running,
    until,
    wait_processed,
)

QUEUE = "imi.plane_events"


async def tickets(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Ticket]:
    async with sessions() as s:
        rows = (await s.execute(select(Ticket))).scalars()
        return {t.plane_ticket_id: t for t in rows}


def webhook(action: str, data: dict[str, Any], event: str = "issue") -> dict[str, Any]:
    """What the webhook relay publishes: the raw Plane webhook inside its envelope payload."""
    body = {
        "event": event,
        "action": action,
        "webhook_id": str(uuid.uuid4()),
        "workspace_id": "ws-1",
        "data": data,
    }
    payload = {"provider": "plane", "event": event, "path": "/webhooks/plane", "body": body}
    return envelope(f"webhook.plane.{event}", payload)


async def test_plane_tickets_are_upserted_from_every_shape(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(bus, database_url):
        created = {
            "plane_ticket_id": "PROJ-1",
            "title": "Login page",
            "url": "https://plane.example/acme/PROJ-1",
            "state": "Todo",
        }
        await bus.publish("plane.ticket.created", envelope("plane.ticket.created", created))
        await until(lambda: tickets(sessions), lambda t: "PROJ-1" in t)
        # PRD update: the key from project identifier + sequence id, state as an object.
        updated = {
            "project_identifier": "PROJ",
            "sequence_id": 1,
            "name": "Login page v2",
            "state": {"name": "In Progress", "group": "started"},
        }
        await bus.publish("plane.ticket.updated", envelope("plane.ticket.updated", updated))
        await until(lambda: tickets(sessions), lambda t: t["PROJ-1"].state == "In Progress")
        # The relay's webhook envelope around a raw Plane issue webhook.
        issue = {
            "id": "0b5e1c1e-2c6b-4b8e-9d64-1f0e0c7c9a11",
            "name": "Signup form",
            "sequence_id": 2,
            "project": "5f2d7f0e-8c33-4d8e-9c1b-6f1f1b0d2a33",
            "project_detail": {"identifier": "PROJ"},
            "state_detail": {"name": "Backlog"},
        }
        await bus.publish("webhook.plane.issue", webhook("created", issue))
        await bus.publish("webhook.plane.issue", webhook("update", {**issue, "name": "Signup"}))
        # Not about an issue, or a deletion: acknowledged, nothing changes.
        await bus.publish("webhook.plane.project", webhook("update", {"id": "p"}, "project"))
        await bus.publish("webhook.plane.issue", webhook("delete", {"id": issue["id"]}))
        await wait_processed(sessions, QUEUE, 6)
    found = await tickets(sessions)
    assert sorted(found) == ["PROJ-1", "PROJ-2"]
    one, two = found["PROJ-1"], found["PROJ-2"]
    assert (one.title, one.url, one.state) == (
        "Login page v2",
        "https://plane.example/acme/PROJ-1",
        "In Progress",
    )
    assert (two.title, two.state) == ("Signup", "Backlog")
    assert two.meta["plane_issue_id"] == issue["id"]
    assert two.meta["plane_project_id"] == issue["project"]
    types = await event_types(sessions)
    assert types.count("imi.ticket.created") == 2
    assert types.count("imi.ticket.updated") == 2


async def test_plane_duplicates_and_bad_messages(
    bus: Bus, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    message = envelope("plane.ticket.created", {"plane_ticket_id": "PROJ-5", "title": "t"})
    async with running(bus, database_url):
        for _ in range(2):
            await bus.publish("plane.ticket.created", message, message_id="plane-1")
        await bus.publish("plane.ticket.created", b"\xff\xfe", message_id="not-utf8")
        await bus.publish(
            "plane.ticket.updated",
            envelope("plane.ticket.updated", {"title": "no key"}),
            message_id="no-key",
        )
        await bus.publish(
            "webhook.plane.issue",
            envelope("webhook.plane.issue", {"provider": "plane", "body": "{oops"}),
            message_id="bad-body",
        )
        dead = await dead_letters(bus, QUEUE, 3)
        assert sorted(m.message_id for m in dead) == ["bad-body", "no-key", "not-utf8"]
        await wait_processed(sessions, QUEUE, 1)
    assert await processed_count(sessions, QUEUE) == 1
    assert await event_types(sessions) == ["imi.ticket.created"]
