"""Advisory file reservations (intermute): reserve a glob pattern, check, list, release.

Rules (``../shared/INTERMUTE.md``): within one project, an exclusive request conflicts with
every live reservation whose pattern overlaps its own, a shared one only with the exclusive
ones; a reservation is live until released or past ``expires_at``. Decisions of one project are
serialized in PostgreSQL (a transaction-scoped advisory lock taken before the check), so any
number of concurrent requests on any number of replicas get the answer some serial order would
give: of two overlapping exclusive requests exactly one wins.

Services take a session and flush, never commit; every change writes its event (outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from imi.coordination import reservations_queries as q
from imi.coordination.globs import Budget, Pattern, parse, patterns_overlap
from imi.errors import Conflict, DomainError, NotFound, ValidationFailed
from imi.outbox import PendingEvent, emit

DEFAULT_TTL_MINUTES = 30
MAX_TTL_MINUTES = 24 * 60
MAX_AGENT_ID_LENGTH = 200
MAX_PROJECT_LENGTH = 200
MAX_REASON_LENGTH = 1000
LIST_LIMIT = 500
# Live reservations one project may hold: every request is checked against all of them.
MAX_LIVE_PER_PROJECT = 1_000
# Overlap steps one check may take over all of them (about a tenth of a second).
MAX_CHECK_STEPS = 100_000

CREATED = "imi.reservation.created"
RELEASED = "imi.reservation.released"
SUBJECT = "reservation"


def wire_time(value: datetime) -> str:
    """RFC 3339 in UTC with the fraction trimmed, as Go's ``time.RFC3339Nano`` prints it."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{value.microsecond:06d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: uuid.UUID
    agent_id: str
    project: str
    path_pattern: str
    exclusive: bool
    reason: str
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None
    release_reason: str | None
    is_active: bool

    @classmethod
    def from_row(cls, row: Row[Any]) -> Reservation:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__slots__})

    def wire(self) -> dict[str, Any]:
        """intermute's JSON shape (``released_at`` only once released)."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "agent_id": self.agent_id,
            "project": self.project,
            "path_pattern": self.path_pattern,
            "exclusive": self.exclusive,
            "reason": self.reason,
            "created_at": wire_time(self.created_at),
            "expires_at": wire_time(self.expires_at),
            "is_active": self.is_active,
        }
        if self.released_at is not None:
            out["released_at"] = wire_time(self.released_at)
        return out


class ReservationConflict(DomainError):
    """The request overlaps live reservations it may not coexist with (409)."""

    code = "CONFLICT"

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        super().__init__("reservation_conflict", conflicts=conflicts)
        self.conflicts = conflicts


class NotHolder(DomainError):
    """Only the holding agent may release a reservation (403)."""

    code = "FORBIDDEN"


def _bounded(value: str, name: str, limit: int, *, required: bool = False) -> str:
    if required and not value.strip():
        raise ValidationFailed(f"{name} is required", field=name)
    if len(value) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)
    if "\x00" in value:
        raise ValidationFailed(f"{name} must not contain NUL characters", field=name)
    return value


def bounded_project(project: str | None) -> str | None:
    """``project`` as given, refused (400) when longer than the limit."""
    if project is not None:
        _bounded(project, "project", MAX_PROJECT_LENGTH)
    return project


def bounded_agent(agent_id: str) -> str:
    return _bounded(agent_id, "agent_id", MAX_AGENT_ID_LENGTH)


def ttl_minutes(requested: int | None) -> int:
    """The TTL to use: absent, zero or negative means the default (as intermute); at most a day."""
    if requested is None or requested <= 0:
        return DEFAULT_TTL_MINUTES
    if requested > MAX_TTL_MINUTES:
        raise ValidationFailed(
            f"ttl_minutes must be at most {MAX_TTL_MINUTES}", field="ttl_minutes"
        )
    return requested


def _conflict(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "reservation_id": str(m["id"]),
        "agent_id": m["agent_id"],
        "held_by": m["held_by"],
        "pattern": m["path_pattern"],
        "exclusive": m["exclusive"],
        "reason": m["reason"],
        "expires_at": wire_time(m["expires_at"]),
    }


async def conflicts(
    session: AsyncSession, *, project: str, pattern: str, exclusive: bool
) -> list[dict[str, Any]]:
    """The live reservations of ``project`` a request for ``pattern`` would conflict with."""
    _bounded(project, "project", MAX_PROJECT_LENGTH)
    wanted = parse(pattern)
    rows = (await session.execute(q.LIVE_IN_PROJECT, {"project": project})).all()
    return _overlapping(wanted, rows, exclusive)


def _overlapping(
    wanted: Pattern, rows: Sequence[Row[Any]], exclusive: bool
) -> list[dict[str, Any]]:
    # One budget for the whole check: past it, what is left counts as conflicting.
    budget = Budget(MAX_CHECK_STEPS)
    return [
        _conflict(row)
        for row in rows
        if (exclusive or row.exclusive)
        and patterns_overlap(wanted, parse(row.path_pattern), budget)
    ]


async def reserve(
    session: AsyncSession,
    *,
    agent_id: str,
    project: str,
    path_pattern: str,
    exclusive: bool,
    reason: str = "",
    ttl: int | None = None,
) -> Reservation:
    """Reserve ``path_pattern`` for ``agent_id``, or raise ``ReservationConflict``."""
    _bounded(agent_id, "agent_id", MAX_AGENT_ID_LENGTH, required=True)
    _bounded(project, "project", MAX_PROJECT_LENGTH)
    _bounded(reason, "reason", MAX_REASON_LENGTH)
    pattern = parse(path_pattern).text  # validated (and normalized) before any lock is taken
    minutes = ttl_minutes(ttl)
    await session.execute(q.LOCK_PROJECT, {"project": project})
    live = (await session.execute(q.LIVE_IN_PROJECT, {"project": project})).all()
    if len(live) >= MAX_LIVE_PER_PROJECT:
        raise Conflict(
            f"project {project!r} holds {MAX_LIVE_PER_PROJECT} live reservations, the limit; "
            "release some (or let them expire) first",
            limit=MAX_LIVE_PER_PROJECT,
        )
    found = _overlapping(parse(pattern), live, exclusive)
    if found:
        raise ReservationConflict(found)
    params = {
        "id": uuid.uuid4(),
        "agent_id": agent_id,
        "project": project,
        "path_pattern": pattern,
        "exclusive": exclusive,
        "reason": reason,
        "ttl_minutes": minutes,
    }
    reservation = Reservation.from_row((await session.execute(q.INSERT, params)).one())
    await emit(session, _event(CREATED, reservation))
    return reservation


def _event(event_type: str, reservation: Reservation) -> PendingEvent:
    payload = {"reservation_id": str(reservation.id), **reservation.wire()}
    if reservation.release_reason is not None:
        payload["release_reason"] = reservation.release_reason
    return PendingEvent(event_type, SUBJECT, reservation.id, payload)


def release_events(reservations: list[Reservation]) -> list[PendingEvent]:
    return [_event(RELEASED, reservation) for reservation in reservations]


async def get(session: AsyncSession, reservation_id: str) -> Reservation:
    try:
        key = uuid.UUID(reservation_id)
    except ValueError:
        raise NotFound("reservation", reservation_id[:80]) from None
    row = (await session.execute(q.BY_ID, {"id": key})).one_or_none()
    if row is None:
        raise NotFound("reservation", key)
    return Reservation.from_row(row)


async def release(
    session: AsyncSession, *, reservation_id: str, caller_agent: str, project: str | None
) -> Reservation:
    """Release a reservation its holder names; 404 when unknown (in ``project``, when given) or
    already released, ``NotHolder`` when the caller is another agent."""
    reservation = await get(session, reservation_id)
    if project is not None and reservation.project != project:
        raise NotFound("reservation", reservation.id)
    if reservation.agent_id != caller_agent:
        raise NotHolder(
            "only the holding agent may release this reservation (send X-Agent-ID)",
            holder=reservation.agent_id,
        )
    row = (await session.execute(q.RELEASE, {"id": reservation.id})).one_or_none()
    if row is None:
        raise NotFound("reservation", reservation.id)  # released already
    released = Reservation.from_row(row)
    await emit(session, *release_events([released]))
    return released


async def live(
    session: AsyncSession, *, project: str | None, agent_id: str | None
) -> list[Reservation]:
    """Live reservations of an agent (in ``project`` when given) or else of a project."""
    if agent_id:
        params: dict[str, Any] = {"agent_id": agent_id, "project": project, "limit": LIST_LIMIT}
        rows = (await session.execute(q.LIVE_FOR_AGENT, params)).all()
    else:
        params = {"project": project or "", "limit": LIST_LIMIT}
        rows = (await session.execute(q.LIVE_FOR_PROJECT, params)).all()
    return [Reservation.from_row(row) for row in rows]


async def live_for_agents(
    session: AsyncSession, agent_ids: list[str]
) -> dict[str, list[Reservation]]:
    """Live reservations per agent id, in one statement (for dataloaders)."""
    rows = (await session.execute(q.LIVE_FOR_AGENTS, {"agent_ids": agent_ids})).all()
    out: dict[str, list[Reservation]] = {agent: [] for agent in agent_ids}
    for row in rows:
        out[row.agent_id].append(Reservation.from_row(row))
    return out
