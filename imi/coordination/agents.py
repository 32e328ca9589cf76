"""Agents (intermute): registration, listing, heartbeats and liveness.

An agent row is one registration: its ``id`` stays the same for as long as it lives, its
``session_id`` is the caller's or generated, and ``last_seen`` moves on every heartbeat.
Liveness is derived when read: an agent is *online* while its last heartbeat is at most
:data:`LIVENESS_SECONDS` old. Registration writes ``imi.agent.registered``; heartbeats write no
event (one every few seconds per agent would flood the outbox; ``last_seen`` is the state).

An agent is the same identity as a work item's ``owner_id``: an owner id names the agent whose
``id`` (UUID text) or ``name`` it equals (``agents_for_owners``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination.agents_names import generate_name
from imi.errors import Conflict, NotFound, ValidationFailed
from imi.outbox import PendingEvent, emit

LIVENESS_SECONDS = 300  # online while the last heartbeat is at most this old
MAX_TEXT = 200  # name, project, session_id, capability, metadata key
MAX_STATUS = 100
MAX_CAPABILITIES = 100
MAX_METADATA_KEYS = 100
MAX_METADATA_VALUE = 4000
MAX_METADATA_BYTES = 16_384
MAX_LIST = 1000

COLUMNS = "id, session_id, name, project, capabilities, metadata, status, created_at, last_seen"


@dataclass(frozen=True, slots=True)
class AgentIn:
    name: str = ""
    project: str = ""
    session_id: str = ""
    capabilities: Sequence[str] = ()
    metadata: dict[str, str] | None = None
    status: str = ""


@dataclass(frozen=True, slots=True)
class Agent:
    id: uuid.UUID
    session_id: str
    name: str
    project: str
    capabilities: list[str]
    metadata: dict[str, str]
    status: str
    created_at: datetime
    last_seen: datetime
    online: bool

    @classmethod
    def of(cls, row: Any) -> Agent:
        return cls(**{k: getattr(row, k) for k in cls.__slots__})


def _bounded(value: str, field: str, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        raise ValidationFailed(f"{field} is longer than {limit} characters", field=field)
    return value


def check_agent(agent: AgentIn) -> None:
    """The documented bounds, before any work."""
    for field in ("name", "project", "session_id"):
        _bounded(getattr(agent, field), field)
    _bounded(agent.status, "status", MAX_STATUS)
    if len(agent.capabilities) > MAX_CAPABILITIES:
        raise ValidationFailed(f"at most {MAX_CAPABILITIES} capabilities", field="capabilities")
    for capability in agent.capabilities:
        _bounded(capability, "capabilities")
    metadata = agent.metadata or {}
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationFailed(f"at most {MAX_METADATA_KEYS} metadata keys", field="metadata")
    for key, value in metadata.items():
        _bounded(key, "metadata")
        _bounded(value, "metadata", MAX_METADATA_VALUE)
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata is over {MAX_METADATA_BYTES} bytes", field="metadata")


_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_ONLINE = f"(last_seen >= now() - make_interval(secs => {LIVENESS_SECONDS})) AS online"
_SELECT = f"SELECT {COLUMNS}, {_ONLINE} FROM agents"
_TAKE_OVER = text(
    "UPDATE agents SET name = :name, capabilities = CAST(:capabilities AS jsonb), "
    "metadata = CAST(:metadata AS jsonb), status = :status, last_seen = now() "
    f"WHERE id = :id RETURNING {COLUMNS}, true AS online"
)
_INSERT = text(
    "INSERT INTO agents (session_id, name, project, capabilities, metadata, status) "
    "VALUES (:session_id, :name, :project, CAST(:capabilities AS jsonb), "
    f"CAST(:metadata AS jsonb), :status) RETURNING {COLUMNS}, true AS online"
)


async def register_agent(session: AsyncSession, agent: AgentIn) -> Agent:
    """Register (or, for a known ``session_id`` whose agent went stale, take over) an agent.

    A ``session_id`` held by an agent that is still online is a Conflict (intermute's
    ``active_session_conflict``)."""
    check_agent(agent)
    name = agent.name.strip() or generate_name()
    session_id = agent.session_id.strip() or str(uuid.uuid4())
    values = {
        "name": name,
        "project": agent.project,
        "session_id": session_id,
        "capabilities": json.dumps(list(agent.capabilities)),
        "metadata": json.dumps(agent.metadata or {}),
        "status": agent.status,
    }
    existing = (
        await session.execute(
            text(f"{_SELECT} WHERE project = :project AND session_id = :session_id FOR UPDATE"),
            values,
        )
    ).first()
    if existing is not None and existing.online:
        raise Conflict("session_id is in use by an active agent", field="session_id")
    try:
        async with session.begin_nested():
            if existing is not None:
                row = (await session.execute(_TAKE_OVER, {**values, "id": existing.id})).one()
            else:
                row = (await session.execute(_INSERT, values)).one()
    except IntegrityError:  # a concurrent registration took the session first
        raise Conflict("session_id is in use by an active agent", field="session_id") from None
    registered = Agent.of(row)
    await emit(
        session,
        PendingEvent("imi.agent.registered", "agent", registered.id, agent_payload(registered)),
    )
    return registered


async def list_agents(session: AsyncSession, project: str | None, *, limit: int) -> list[Agent]:
    """Agents of ``project`` (every project when None), oldest registration first."""
    where = "" if project is None else "WHERE project = :project"
    rows = await session.execute(
        text(f"{_SELECT} {where} ORDER BY created_at, id LIMIT :limit"),
        {"project": project, "limit": min(limit, MAX_LIST)},
    )
    return [Agent.of(row) for row in rows]


async def heartbeat(session: AsyncSession, agent_id: str, project: str | None) -> Agent:
    """Move ``last_seen`` to now. Unknown ids, and agents outside ``project`` when the caller
    is bound to one, are NotFound."""
    try:
        key = uuid.UUID(agent_id)
    except ValueError:
        raise NotFound("agent", agent_id[:MAX_TEXT]) from None
    scope = "" if project is None else "AND project = :project"
    row = (
        await session.execute(
            text(
                f"UPDATE agents SET last_seen = now() WHERE id = :id {scope} "
                f"RETURNING {COLUMNS}, true AS online"
            ),
            {"id": key, "project": project},
        )
    ).first()
    if row is None:
        raise NotFound("agent", agent_id)
    return Agent.of(row)


async def get_agent(session: AsyncSession, agent_id: str) -> Agent | None:
    """An agent by id (None for unknown or malformed ids)."""
    try:
        key = uuid.UUID(agent_id)
    except ValueError:
        return None
    row = (await session.execute(text(f"{_SELECT} WHERE id = :id"), {"id": key})).first()
    return Agent.of(row) if row is not None else None


_A_COLUMNS = ", ".join(f"a.{c}" for c in COLUMNS.split(", "))
# Two indexed lookups (by name; by id when the owner id is a UUID), not one OR'ed join.
_BY_OWNER = text(
    f"""
    SELECT owner, {COLUMNS}, {_ONLINE} FROM (
        SELECT o.owner, {_A_COLUMNS} FROM unnest(CAST(:owners AS text[])) AS o(owner)
        JOIN agents a ON a.name = o.owner
        UNION
        SELECT o.owner, {_A_COLUMNS} FROM unnest(CAST(:owners AS text[])) AS o(owner)
        JOIN agents a ON a.id = CASE WHEN o.owner ~* '{_UUID}' THEN o.owner::uuid END
    ) AS found
    ORDER BY created_at DESC, id
    """
)


async def agents_for_owners(
    session: AsyncSession, owner_ids: Sequence[str]
) -> dict[str, list[Agent]]:
    """The registrations each owner id names (by agent id text or by name), newest first,
    in one statement for the whole batch."""
    rows = await session.execute(_BY_OWNER, {"owners": list(owner_ids)})
    found: dict[str, list[Agent]] = {owner: [] for owner in owner_ids}
    for row in rows:
        found[row.owner].append(Agent.of(row))
    return found


def agent_payload(agent: Agent) -> dict[str, Any]:
    """The event payload of an agent (intermute's field names)."""
    return {
        "agent_id": str(agent.id),
        "session_id": agent.session_id,
        "name": agent.name,
        "project": agent.project,
        "capabilities": agent.capabilities,
        "metadata": agent.metadata,
        "status": agent.status,
        "created_at": agent.created_at,
        "last_seen": agent.last_seen,
    }
