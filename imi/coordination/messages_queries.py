"""Message reads (intermute): an agent's inbox since a cursor, inbox counts.

An inbox entry's ``cursor`` is the position in ``coordination_events`` of the send that
delivered the message to that agent; reading ``since_cursor`` = the last cursor seen returns
exactly what came after, in order (writes of a project commit in cursor order, see
``imi.coordination.messages``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_INBOX = 1000
DEFAULT_INBOX = 100

MESSAGE_COLUMNS = (
    "m.project, m.message_id, m.thread_id, m.from_agent, m.to_agents, m.cc_agents, "
    "m.bcc_agents, m.subject, m.body, m.importance, m.ack_required, m.created_at"
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    project: str
    message_id: str
    thread_id: str
    from_agent: str
    to_agents: list[str]
    cc_agents: list[str]
    bcc_agents: list[str]
    subject: str
    body: str
    importance: str
    ack_required: bool
    created_at: datetime
    cursor: int

    @classmethod
    def of(cls, row: Any) -> StoredMessage:
        return cls(**{k: getattr(row, k) for k in cls.__slots__})


async def inbox_since(
    session: AsyncSession, project: str, agent: str, *, since: int, limit: int
) -> list[StoredMessage]:
    """The messages delivered to ``agent`` in ``project`` after cursor ``since``, oldest
    first, at most ``limit``. Another recipient's bcc is not shown: an entry's ``bcc_agents``
    holds at most the reader itself."""
    rows = await session.execute(
        text(
            f"SELECT {MESSAGE_COLUMNS}, r.cursor FROM message_recipients r "
            "JOIN messages m USING (project, message_id) "
            "WHERE r.agent = :a AND r.project = :p AND r.cursor > :since "
            "ORDER BY r.cursor, r.message_id LIMIT :limit"
        ),
        {"a": agent, "p": project, "since": since, "limit": min(limit, MAX_INBOX)},
    )
    found = [StoredMessage.of(row) for row in rows]
    return [_hide_bcc(message, agent) for message in found]


def _hide_bcc(message: StoredMessage, reader: str) -> StoredMessage:
    if not message.bcc_agents:
        return message
    values = {k: getattr(message, k) for k in StoredMessage.__slots__}
    values["bcc_agents"] = [reader] if reader in message.bcc_agents else []
    return StoredMessage(**values)


@dataclass(frozen=True, slots=True)
class InboxCounts:
    project: str
    total: int
    unread: int
    unacked: int  # ack_required and not acked by this agent
    last_cursor: int


async def inbox_counts(
    session: AsyncSession, agent: str, projects: Sequence[str] | None
) -> list[InboxCounts]:
    """An agent's inbox counts per project (every project when ``projects`` is None)."""
    scope = "" if projects is None else "AND r.project = ANY(:projects)"
    rows = await session.execute(
        text(
            "SELECT r.project, count(*) AS total, count(*) FILTER (WHERE r.read_at IS NULL) "
            "AS unread, count(*) FILTER (WHERE m.ack_required AND r.ack_at IS NULL) AS unacked, "
            "max(r.cursor) AS last_cursor "
            "FROM message_recipients r JOIN messages m USING (project, message_id) "
            f"WHERE r.agent = :a {scope} GROUP BY r.project ORDER BY r.project"
        ),
        {"a": agent, "projects": list(projects or ())},
    )
    return [InboxCounts(**row._mapping) for row in rows]


async def counts_for_agents(
    session: AsyncSession, agents: Sequence[str]
) -> dict[str, tuple[int, int, int]]:
    """(total, unread, unacked) over every project, for many agent addresses at once."""
    rows = await session.execute(
        text(
            "SELECT r.agent, count(*) AS total, count(*) FILTER (WHERE r.read_at IS NULL) "
            "AS unread, count(*) FILTER (WHERE m.ack_required AND r.ack_at IS NULL) AS unacked "
            "FROM message_recipients r JOIN messages m USING (project, message_id) "
            "WHERE r.agent = ANY(:agents) GROUP BY r.agent"
        ),
        {"agents": list(agents)},
    )
    found = {agent: (0, 0, 0) for agent in agents}
    for row in rows:
        found[row.agent] = (row.total, row.unread, row.unacked)
    return found
