"""Bloodbank's EventEnvelope, as published (plus the v2 ``metadata`` block)."""

from __future__ import annotations

import contextlib
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

ENVELOPE_VERSION = "1.0.0"
HOSTNAME = socket.gethostname()


def build_envelope(
    *,
    event_type: str,
    payload: dict[str, Any],
    event_id: uuid.UUID,
    correlation_id: str | None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The envelope dict stored in the outbox and sent as the message body."""
    correlation_ids: list[str] = []
    if correlation_id:
        # A free-form id still travels in metadata.correlation_id.
        with contextlib.suppress(ValueError):
            correlation_ids.append(str(uuid.UUID(correlation_id)))
    return {
        "event_id": str(event_id),
        "event_type": event_type,
        "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
        "version": ENVELOPE_VERSION,
        "source": {"host": HOSTNAME, "type": "service", "app": "imi", "meta": None},
        "correlation_ids": correlation_ids,
        "agent_context": None,
        "payload": payload,
        # v2-era readers look for these.
        "metadata": {"correlation_id": correlation_id, "version": ENVELOPE_VERSION},
    }
