"""Bloodbank's EventEnvelope, as published (plus the v2 ``metadata`` block)."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from typing import Any

ENVELOPE_VERSION = "1.0.0"
HOSTNAME = socket.gethostname()
# Events only the v2 contract (002 section 2) defines. They carry the values its envelope
# shows: ``source.type: "component"`` and ``metadata.version: "2.0.0"``; the rest of the
# envelope is Bloodbank's, which a reader of the v2 shape ignores.
V2_CONTRACT_VERSION = "2.0.0"
V2_SOURCE_TYPE = "component"
V2_CONTRACT_EVENTS = frozenset(
    {
        "imi.worktree.created",
        "imi.worktree.git_state_updated",
        "imi.worktree.merged",
        "imi.activity.logged",
        "imi.project.registration_failed",
        "imi.worktree.creation_failed",
    }
)


def build_envelope(
    *,
    event_type: str,
    payload: dict[str, Any],
    event_id: uuid.UUID,
    correlation_id: str | None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The envelope dict stored in the outbox and sent as the message body."""
    v2 = event_type in V2_CONTRACT_EVENTS
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
        "version": ENVELOPE_VERSION,
        "source": {
            "host": HOSTNAME,
            "type": V2_SOURCE_TYPE if v2 else "service",
            "app": "imi",
            "meta": None,
        },
        # The request's or message's id as it came, UUID or not: tracing ids often are not.
        "correlation_ids": [correlation_id] if correlation_id else [],
        "agent_context": None,
        "payload": payload,
        # v2-era readers look for these.
        "metadata": {
            "correlation_id": correlation_id,
            "version": V2_CONTRACT_VERSION if v2 else ENVELOPE_VERSION,
        },
    }
