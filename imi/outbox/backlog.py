"""How far the relay is behind: unpublished events and the age of the oldest (for metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Both from the partial index of unpublished rows; bounded by the caller's statement timeout.
_BACKLOG = text(
    "SELECT count(*), extract(epoch FROM now() - min(created_at)) "
    "FROM events WHERE published_at IS NULL"
)


@dataclass(frozen=True, slots=True)
class Backlog:
    events: int
    oldest_age_seconds: float  # 0 when nothing waits


async def outbox_backlog(conn: AsyncConnection, *, timeout_ms: int) -> Backlog:
    """The backlog, in a transaction of its own whose statements stop after ``timeout_ms``."""
    async with conn.begin():
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
        count, age = (await conn.execute(_BACKLOG)).one()
    return Backlog(int(count), max(float(age or 0.0), 0.0))
