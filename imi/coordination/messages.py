"""Messages (intermute): send with de-duplication, per-recipient delivery, ack and read.

Every message creation, ack and read appends to ``coordination_events``; its ``cursor`` is the
inbox cursor. Writes of one project take a transaction-scoped advisory lock first, so cursors
of a project become visible in cursor order: a reader that saw cursor N can never later find a
committed entry below N (an inbox read ``since_cursor`` loses nothing).

A message is keyed by ``(project, id)``. Sending it again (a client's retry) overwrites its
thread, subject, body and flags, delivers it only to recipients it has not reached yet (with a
new cursor), and answers the first send's cursor: nothing is delivered twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination.messages_threads import reindex_threads
from imi.errors import NotFound, ValidationFailed
from imi.outbox import PendingEvent, emit

MAX_ID = 200  # message id, thread id, agent names, project
MAX_RECIPIENTS = 100  # to + cc + bcc
MAX_SUBJECT = 1000
MAX_BODY = 65_536
MAX_IMPORTANCE = 50
KINDS = ("to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class MessageIn:
    sender: str
    to: Sequence[str]
    project: str = ""
    id: str = ""
    thread_id: str = ""
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    subject: str = ""
    body: str = ""
    importance: str = ""
    ack_required: bool = False


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    cursor: int  # the first send's
    deliveries: list[tuple[str, int]] = field(default_factory=list)  # (agent, cursor) new now
    created: bool = True


def _check(value: str, name: str, limit: int = MAX_ID) -> None:
    if len(value) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)


def check_message(message: MessageIn) -> None:
    """The documented bounds and required fields, before any work."""
    if not message.sender.strip():
        raise ValidationFailed("from is required", field="from")
    if not message.to:
        raise ValidationFailed("to needs at least one recipient", field="to")
    for name in ("id", "thread_id", "project"):
        _check(getattr(message, name), name)
    _check(message.sender, "from")
    _check(message.subject, "subject", MAX_SUBJECT)
    _check(message.body, "body", MAX_BODY)
    _check(message.importance, "importance", MAX_IMPORTANCE)
    everyone = [*message.to, *message.cc, *message.bcc]
    if len(everyone) > MAX_RECIPIENTS:
        raise ValidationFailed(f"at most {MAX_RECIPIENTS} recipients", field="to")
    for kind in KINDS:
        for agent in getattr(message, kind):
            if not agent.strip():
                raise ValidationFailed(f"{kind} holds an empty recipient", field=kind)
            _check(agent, kind)


def recipients(message: MessageIn) -> dict[str, str]:
    """agent -> kind, each agent once (the first of to, cc, bcc naming it wins)."""
    found: dict[str, str] = {}
    for kind in KINDS:
        for agent in getattr(message, kind):
            found.setdefault(agent.strip(), kind)
    return found


async def lock_project(session: AsyncSession, project: str) -> None:
    """Serialize one project's appends to the event sequence until commit."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('imi.coordination:' || :p, 0))"),
        {"p": project},
    )


async def append_event(
    session: AsyncSession, event_type: str, project: str, agent: str, message_id: str
) -> int:
    cursor: int = (
        await session.execute(
            text(
                "INSERT INTO coordination_events (event_type, project, agent, message_id) "
                "VALUES (:t, :p, :a, :m) RETURNING cursor"
            ),
            {"t": event_type, "p": project, "a": agent, "m": message_id},
        )
    ).scalar_one()
    return cursor


_UPSERT = text(
    "INSERT INTO messages AS m (project, message_id, thread_id, from_agent, to_agents, "
    "cc_agents, bcc_agents, subject, body, importance, ack_required, cursor) "
    "VALUES (:project, :id, :thread_id, :sender, CAST(:to AS jsonb), CAST(:cc AS jsonb), "
    "CAST(:bcc AS jsonb), :subject, :body, :importance, :ack_required, :cursor) "
    "ON CONFLICT (project, message_id) DO UPDATE SET thread_id = excluded.thread_id, "
    "from_agent = excluded.from_agent, to_agents = excluded.to_agents, "
    "cc_agents = excluded.cc_agents, bcc_agents = excluded.bcc_agents, "
    "subject = excluded.subject, body = excluded.body, importance = excluded.importance, "
    "ack_required = excluded.ack_required, updated_at = now() "
    "RETURNING m.cursor, m.created_at"
)


async def send_message(session: AsyncSession, message: MessageIn) -> Sent:
    """Create the message, or overwrite it on a retry; deliver it to each recipient once."""
    check_message(message)
    project = message.project
    message_id = message.id or str(uuid.uuid4())
    await lock_project(session, project)
    previous = (
        await session.execute(
            text(
                "SELECT thread_id, cursor FROM messages "
                "WHERE project = :p AND message_id = :m FOR UPDATE"
            ),
            {"p": project, "m": message_id},
        )
    ).first()
    wanted = recipients(message)
    reached: set[str] = set()
    if previous is not None:
        rows = await session.execute(
            text("SELECT agent FROM message_recipients WHERE project = :p AND message_id = :m"),
            {"p": project, "m": message_id},
        )
        reached = {row.agent for row in rows}
    new = {agent: kind for agent, kind in wanted.items() if agent not in reached}
    cursor = None
    if new:
        cursor = await append_event(session, "message.created", project, message.sender, message_id)
    values = {
        "project": project,
        "id": message_id,
        "thread_id": message.thread_id,
        "sender": message.sender,
        "to": json.dumps(list(message.to)),
        "cc": json.dumps(list(message.cc)),
        "bcc": json.dumps(list(message.bcc)),
        "subject": message.subject,
        "body": message.body,
        "importance": message.importance,
        "ack_required": message.ack_required,
        # A retry keeps the first cursor (the column is not updated); the value only has to
        # satisfy NOT NULL, which PostgreSQL checks before it sees the conflict.
        "cursor": cursor if cursor is not None or previous is None else previous.cursor,
    }
    stored = (await session.execute(_UPSERT, values)).one()
    if new:
        await session.execute(
            text(
                "INSERT INTO message_recipients (project, message_id, agent, kind, cursor) "
                "SELECT :p, :m, r.agent, r.kind, :c "
                "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(agent text, kind text)"
            ),
            {
                "p": project,
                "m": message_id,
                "c": cursor,
                "rows": json.dumps([{"agent": a, "kind": k} for a, k in new.items()]),
            },
        )
    threads = {message.thread_id} | ({previous.thread_id} if previous is not None else set())
    await reindex_threads(session, project, [t for t in threads if t])
    deliveries = [(agent, cursor) for agent in new if cursor is not None]
    sent = Sent(message_id, stored.cursor, deliveries, created=previous is None)
    payload = _payload(message, message_id, sent, stored.created_at)
    event_type = "imi.message.created" if sent.created else "imi.message.updated"
    await emit(session, PendingEvent(event_type, "message", f"{project}:{message_id}", payload))
    return sent


def _payload(message: MessageIn, message_id: str, sent: Sent, created_at: Any) -> dict[str, Any]:
    return {
        "project": message.project,
        "message_id": message_id,
        "thread_id": message.thread_id,
        "from": message.sender,
        "to": list(message.to),
        "cc": list(message.cc),
        "subject": message.subject,
        "body": message.body,
        "importance": message.importance,
        "ack_required": message.ack_required,
        "created_at": created_at,
        "cursor": sent.cursor,
        # Who got it with this send, and at which cursor (the push reads this; bcc included).
        "deliveries": [{"agent": a, "cursor": c} for a, c in sent.deliveries],
    }


async def mark(
    session: AsyncSession, action: str, project: str, message_id: str, agent: str
) -> int | None:
    """Record an ack or read (``action``) of a message, by ``agent`` when named (it must be a
    recipient). Returns the new event's cursor, or None when this agent had already done it
    (a repeated ack appends nothing)."""
    assert action in ("ack", "read")
    _check(message_id, "message_id")
    _check(agent, "agent")
    await lock_project(session, project)
    found = (
        await session.execute(
            text(
                "SELECT from_agent, coalesce((SELECT jsonb_agg(agent) FROM message_recipients r "
                "WHERE r.project = m.project AND r.message_id = m.message_id), '[]') AS agents "
                "FROM messages m WHERE project = :p AND message_id = :m"
            ),
            {"p": project, "m": message_id},
        )
    ).first()
    if found is None:
        raise NotFound("message", message_id)
    if agent and agent not in found.agents:
        raise NotFound("recipient", f"{agent} of message {message_id}")
    event_type = f"message.{action}"
    done = (
        await session.execute(
            text(
                "SELECT 1 FROM coordination_events WHERE project = :p AND message_id = :m "
                "AND event_type = :t AND agent = :a LIMIT 1"
            ),
            {"p": project, "m": message_id, "t": event_type, "a": agent},
        )
    ).first()
    if done is not None:
        return None
    cursor = await append_event(session, event_type, project, agent, message_id)
    if agent:
        column = "ack_at" if action == "ack" else "read_at"
        await session.execute(
            text(
                f"UPDATE message_recipients SET {column} = now() "
                "WHERE project = :p AND message_id = :m AND agent = :a"
            ),
            {"p": project, "m": message_id, "a": agent},
        )
    payload = {
        "project": project,
        "message_id": message_id,
        "agent": agent,
        "cursor": cursor,
        # The push goes to the message's participants.
        "participants": sorted({found.from_agent, *found.agents}),
    }
    event = "imi.message.acked" if action == "ack" else "imi.message.read"
    await emit(session, PendingEvent(event, "message", f"{project}:{message_id}", payload))
    return cursor
