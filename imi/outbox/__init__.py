"""What the domain writes when state changes: events recorded in the same transaction.

The domain calls :func:`emit` with :class:`PendingEvent`s; the messaging adapter publishes the
committed rows later. This package imports nothing above the domain.
"""

from imi.outbox.writer import (
    AlreadyProcessed,
    PendingEvent,
    claim_with_events,
    emit,
    unclaimed,
)

__all__ = ["AlreadyProcessed", "PendingEvent", "claim_with_events", "emit", "unclaimed"]
