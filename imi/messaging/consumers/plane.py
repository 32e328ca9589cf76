"""Plane tickets on ``imi.plane_events``: ``plane.ticket.created|updated`` (the PRD's names) and
``webhook.plane.<event>`` (the webhook relay's envelope payload ``{provider, event, path,
body}`` around the raw Plane webhook) -> ``upsert_ticket``.

Fields are read from whichever spelling is present. The ticket key is an explicit key
(``plane_ticket_id``, ``ticket_key``, ``key``, ``identifier``), else ``<project
identifier>-<sequence_id>``, else the issue id. No key at all: dead-lettered.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.bloodbank import BadMessage, Incoming, pick, pick_text
from imi.links.service import upsert_ticket
from imi.messaging.consumers.handling import Route, Skip
from imi.messaging.consumers.ordering import Subjects

ISSUE_EVENTS = {"issue", "issues", "ticket", "work_item"}


def ticket_key(data: dict[str, Any]) -> str | None:
    explicit = pick_text(data, "plane_ticket_id", "ticket_key", "key", "issue_key")
    if explicit:
        return explicit
    identifier = pick_text(data, "identifier")
    if identifier and "-" in identifier:
        return identifier
    project = pick_text(
        data,
        "project_identifier",
        "project_detail.identifier",
        "project.identifier",
        "identifier",
    )
    sequence = pick_text(data, "sequence_id", "sequence")
    if project and sequence:
        return f"{project}-{sequence}"
    return pick_text(data, "ticket_id", "issue_id", "id")


def ticket_state(data: dict[str, Any]) -> str | None:
    state = pick(data, "state")
    if isinstance(state, dict):
        return pick_text(state, "name", "group")
    return pick_text(data, "state_detail.name", "state_name", "status") or pick_text(data, "state")


def ticket_metadata(data: dict[str, Any], key: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"source": "plane"}
    for name, paths in {
        "plane_issue_id": ("id", "issue_id"),
        "plane_project_id": ("project_id", "project.id", "project"),
        "plane_workspace_id": ("workspace_id", "workspace"),
    }.items():
        value = pick_text(data, *paths)
        if value and value != key:
            meta[name] = value
    return meta


async def upsert_from(session: AsyncSession, data: dict[str, Any]) -> None:
    key = ticket_key(data)
    if not key:
        raise BadMessage("no ticket key (plane_ticket_id, identifier + sequence_id or id)")
    await upsert_ticket(
        session,
        plane_ticket_id=key,
        title=pick_text(data, "title", "name"),
        url=pick_text(data, "url", "ticket_url", "html_url"),
        state=ticket_state(data),
        metadata=ticket_metadata(data, key),
    )


def _webhook_body(payload: dict[str, Any]) -> dict[str, Any]:
    body = payload.get("body", payload)
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise BadMessage(f"webhook body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadMessage("webhook body must be a JSON object")
    return body


async def plane_ticket(session: AsyncSession, message: Incoming) -> None:
    """``plane.ticket.*``: the ticket's fields, or a raw Plane webhook's ``data``."""
    data = message.payload.get("data")
    await upsert_from(session, data if isinstance(data, dict) else message.payload)


async def plane_webhook(session: AsyncSession, message: Incoming) -> None:
    """``webhook.plane.<event>``: issue events refresh the ticket; others are not ours."""
    provider = pick_text(message.payload, "provider")
    if provider and provider.lower() != "plane":
        raise Skip(f"provider {provider!r} is not plane")
    body = _webhook_body(message.payload)
    event = (pick_text(body, "event") or message.action).lower()
    if event not in ISSUE_EVENTS:
        raise Skip(f"plane event {event!r} is not about an issue")
    if (pick_text(body, "action") or "").lower() in {"delete", "deleted"}:
        raise Skip("deleted issues keep their ticket")
    data = body.get("data")
    if not isinstance(data, dict):
        raise BadMessage("plane webhook without a data object")
    await upsert_from(session, data)


def _ticket_subjects(data: object) -> Subjects:
    """The ticket; none when the message names none (it is skipped or dead-lettered)."""
    key = ticket_key(data) if isinstance(data, dict) else None
    return frozenset({f"ticket:{key}"}) if key else frozenset()


def ticket_subjects(message: Incoming) -> Subjects:
    data = message.payload.get("data")
    return _ticket_subjects(data if isinstance(data, dict) else message.payload)


def webhook_subjects(message: Incoming) -> Subjects:
    return _ticket_subjects(_webhook_body(message.payload).get("data"))


ROUTES = (
    Route(("plane.ticket.*",), plane_ticket, subjects=ticket_subjects),
    Route(("webhook.plane.*",), plane_webhook, subjects=webhook_subjects),
)
