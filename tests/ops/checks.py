"""What the operations tests check on the outbox: which events were committed, whether they were
all published, and what the tap received of them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from tests.ops.conftest import Cluster, Tap


async def last_event_id(cluster: Cluster) -> int:
    rows = await cluster.sql("SELECT coalesce(max(id), 0) AS last FROM events")
    return int(rows[0]["last"])


async def events_after(cluster: Cluster, after: int) -> list[Any]:
    return await cluster.sql(
        "SELECT id, event_id::text AS event_id, subject_type || ':' || subject_id AS subject, "
        "published_at FROM events WHERE id > $1 ORDER BY id",
        after,
    )


async def all_published(cluster: Cluster, after: int, timeout: float = 30.0) -> list[Any]:
    """The events committed after ``after``, once every one of them is marked published."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await events_after(cluster, after)
        if rows and all(r["published_at"] is not None for r in rows):
            return rows
        if time.monotonic() > deadline:
            waiting = sum(r["published_at"] is None for r in rows)
            raise AssertionError(f"{waiting} of {len(rows)} events unpublished after {timeout}s")
        await asyncio.sleep(0.1)


def copies(rows: list[Any], tap: Tap) -> Counter[str]:
    """How many times the tap received each committed event (by message_id = event_id)."""
    ours = {r["event_id"] for r in rows}
    return Counter(mid for mid in tap.ids() if mid in ours)
