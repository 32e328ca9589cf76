"""What a committed message event means for one listening agent (intermute's push frames).

Pure functions over outbox payloads, shared by every live surface (the ``/ws/agents`` socket,
the GraphQL subscription) so they cannot disagree on who hears what:

* ``imi.message.created`` / ``imi.message.updated``: ``{"type": "message.created", "project",
  "message_id", "cursor", "agent"}`` for an agent the send delivered to (to, cc, bcc);
* ``imi.message.acked`` / ``imi.message.read``: ``{"type": "message.ack" | "message.read",
  "project", "message_id"}`` for the message's sender and recipients.
"""

from __future__ import annotations

from typing import Any

CREATED = ("imi.message.created", "imi.message.updated")
MARKED = {"imi.message.acked": "message.ack", "imi.message.read": "message.read"}
EVENT_TYPES = frozenset((*CREATED, *MARKED))


def frames_for(
    event_type: str, payload: dict[str, Any], agent: str, project: str | None
) -> list[dict[str, Any]]:
    """The frames for ``agent`` listening to ``project`` (every project when None)."""
    where = payload.get("project")
    if project is not None and where != project:
        return []
    if event_type in CREATED:
        return [
            {
                "type": "message.created",
                "project": where,
                "message_id": payload.get("message_id"),
                "cursor": delivery.get("cursor"),
                "agent": agent,
            }
            for delivery in payload.get("deliveries") or []
            if delivery.get("agent") == agent
        ]
    kind = MARKED.get(event_type)
    if kind is not None and agent in (payload.get("participants") or []):
        return [{"type": kind, "project": where, "message_id": payload.get("message_id")}]
    return []
