"""The correlation id of the work in progress (an HTTP request, a consumed message).

Adapters set it; the outbox stamps it on every event the work causes.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

# What tracing systems send (uuids, hex ids, dotted/colon-separated ids), and nothing that
# could forge log lines, bloat every event, or overflow AMQP's 255-byte correlation_id.
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

_correlation_id: ContextVar[str | None] = ContextVar("imi_correlation_id", default=None)


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> object:
    """Set the id for the current context; returns a token for ``reset_correlation_id``."""
    return _correlation_id.set(value)


def reset_correlation_id(token: object) -> None:
    _correlation_id.reset(token)  # type: ignore[arg-type]


def clean_correlation_id(value: object) -> str | None:
    """``value`` when it is an acceptable correlation id, else None (a new one is made)."""
    if isinstance(value, str) and _VALID_ID.fullmatch(value):
        return value
    return None


def new_correlation_id() -> str:
    return str(uuid.uuid4())
