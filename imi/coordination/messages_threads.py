"""Threads (intermute): the per-participant thread index and a thread's messages in order.

``thread_index`` holds, for every participant of a thread (sender and recipients), the
thread's last cursor that concerns them, its message count and its last message. It is
recomputed from ``messages`` for the threads a send touches (a retry may move a message to
another thread), so it cannot drift from what the messages say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination.messages_queries import MESSAGE_COLUMNS, StoredMessage

MAX_THREADS = 500
MAX_THREAD_MESSAGES = 1000

_CLEAR = text("DELETE FROM thread_index WHERE project = :p AND thread_id = ANY(:threads)")
_REINDEX = text(
    """
    WITH parts AS (
        SELECT m.thread_id, m.from_agent AS agent, m.message_id, m.cursor
        FROM messages m WHERE m.project = :p AND m.thread_id = ANY(:threads)
        UNION ALL
        SELECT m.thread_id, r.agent, m.message_id, r.cursor
        FROM messages m JOIN message_recipients r USING (project, message_id)
        WHERE m.project = :p AND m.thread_id = ANY(:threads)
    )
    INSERT INTO thread_index (project, thread_id, agent, last_cursor, message_count,
                              last_from, last_body, last_at)
    SELECT :p, parts.thread_id, parts.agent, max(parts.cursor),
           count(DISTINCT parts.message_id), last.from_agent, last.body, last.created_at
    FROM parts
    CROSS JOIN LATERAL (
        SELECT l.from_agent, l.body, l.created_at FROM messages l
        WHERE l.project = :p AND l.thread_id = parts.thread_id
        ORDER BY l.cursor DESC LIMIT 1
    ) AS last
    GROUP BY parts.thread_id, parts.agent, last.from_agent, last.body, last.created_at
    """
)


async def reindex_threads(session: AsyncSession, project: str, threads: Sequence[str]) -> None:
    if threads:
        params = {"p": project, "threads": list(threads)}
        await session.execute(_CLEAR, params)
        await session.execute(_REINDEX, params)


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    thread_id: str
    last_cursor: int
    message_count: int
    last_from: str
    last_body: str
    last_at: datetime


async def list_threads(
    session: AsyncSession, project: str, agent: str, *, before: int, limit: int
) -> list[ThreadSummary]:
    """An agent's threads, most recent first; ``before`` > 0 pages to older ones."""
    rows = await session.execute(
        text(
            "SELECT thread_id, last_cursor, message_count, last_from, last_body, last_at "
            "FROM thread_index WHERE project = :p AND agent = :a "
            "AND (:before = 0 OR last_cursor < :before) "
            "ORDER BY last_cursor DESC LIMIT :limit"
        ),
        {"p": project, "a": agent, "before": before, "limit": min(limit, MAX_THREADS)},
    )
    return [ThreadSummary(**row._mapping) for row in rows]


async def thread_exists(session: AsyncSession, project: str, thread_id: str) -> bool:
    row = await session.execute(
        text("SELECT 1 FROM messages WHERE project = :p AND thread_id = :t LIMIT 1"),
        {"p": project, "t": thread_id},
    )
    return row.first() is not None


async def thread_messages(
    session: AsyncSession, project: str, thread_id: str, *, after: int, limit: int
) -> list[StoredMessage]:
    """A thread's messages in order (by the cursor that created them), after ``after``."""
    rows = await session.execute(
        text(
            f"SELECT {MESSAGE_COLUMNS}, m.cursor FROM messages m "
            "WHERE m.project = :p AND m.thread_id = :t AND m.cursor > :after "
            "ORDER BY m.cursor LIMIT :limit"
        ),
        {"p": project, "t": thread_id, "after": after, "limit": min(limit, MAX_THREAD_MESSAGES)},
    )
    return [StoredMessage.of(row) for row in rows]
