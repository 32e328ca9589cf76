"""File reservations (intermute) in GraphQL: the ``Reservation`` type, ``reservations`` on
``WorkItem`` and ``Agent`` (through per-request loaders: one statement per level), the
``reservations`` query, the ``reserveFiles`` / ``releaseReservation`` mutations and the
``reservationChanged`` subscription (committed reservation events from the process's event hub).
Every rule is the domain's (``imi.coordination.reservations``), as over REST."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.auth.policy import coordination_project
from imi.auth.principal import Principal, current_principal
from imi.coordination import reservations as service
from imi.coordination.reservations_links import live_for_work_items
from imi.errors import Forbidden
from imi.graphql.context import Context
from imi.graphql.loaders import Loader
from imi.graphql.messages import _project
from imi.graphql.mutations.errors import (
    MutationError,
    NotFoundError,
    ValidationError,
    run_in_transaction,
)
from imi.graphql.subscriptions import _next_batch, _payload, _release, _subscribe
from imi.outbox.models import Event as EventRow

Info = strawberry.Info[Context, None]


@strawberry.type(description="An advisory reservation of a glob pattern of files by an agent.")
class Reservation:
    id: strawberry.ID
    agent_id: str = strawberry.field(description="The holder (an agent id, = `WorkItem.ownerId`).")
    project: str = strawberry.field(description="The intermute project (a free string).")
    path_pattern: str
    exclusive: bool
    reason: str
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None
    release_reason: str | None = strawberry.field(
        description="released, expired or agent_stale, once it ended."
    )
    is_active: bool

    @classmethod
    def of(cls, found: service.Reservation) -> Reservation:
        return cls(
            id=strawberry.ID(str(found.id)),
            agent_id=found.agent_id,
            project=found.project,
            path_pattern=found.path_pattern,
            exclusive=found.exclusive,
            reason=found.reason,
            created_at=found.created_at,
            expires_at=found.expires_at,
            released_at=found.released_at,
            release_reason=found.release_reason,
            is_active=found.is_active,
        )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Reservation:
        """The reservation as its event recorded it (``imi.reservation.*``: the wire shape)."""
        released = payload.get("released_at")
        return cls(
            id=strawberry.ID(str(payload["id"])),
            agent_id=str(payload["agent_id"]),
            project=str(payload["project"]),
            path_pattern=str(payload["path_pattern"]),
            exclusive=bool(payload["exclusive"]),
            reason=str(payload.get("reason") or ""),
            created_at=datetime.fromisoformat(payload["created_at"]),
            expires_at=datetime.fromisoformat(payload["expires_at"]),
            released_at=datetime.fromisoformat(released) if released else None,
            release_reason=payload.get("release_reason"),
            is_active=bool(payload["is_active"]),
        )


class ReservationsByAgent(Loader[str, list[service.Reservation]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[str]
    ) -> list[list[service.Reservation]]:
        found = await service.live_for_agents(session, keys)
        return [found[key] for key in keys]


class ReservationsByWorkItem(Loader[uuid.UUID, list[service.Reservation]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[service.Reservation]]:
        found = await live_for_work_items(session, keys)
        return [found[key] for key in keys]


async def agent_reservations(info: Info, agent_id: str) -> list[Reservation]:
    """The live reservations an agent holds (``Agent.reservations``)."""
    return [
        Reservation.of(r) for r in await info.context.loaders.get(ReservationsByAgent).one(agent_id)
    ]


async def work_item_reservations(info: Info, work_item_id: uuid.UUID) -> list[Reservation]:
    """The live reservations on a work item (``WorkItem.reservations``; the rule is in
    ``imi.coordination.reservations_links``)."""
    loader = info.context.loaders.get(ReservationsByWorkItem)
    return [Reservation.of(r) for r in await loader.one(work_item_id)]


def _principal(info: Info) -> Principal:
    principal = info.context.principal or current_principal()
    if principal is None:  # every request is authenticated before it gets here
        raise Forbidden("no caller")
    return principal


@strawberry.type
class Query:
    @strawberry.field(
        description="Live reservations of an agent (in `project` when given) or of a project "
        "(as `GET /api/reservations`)."
    )
    async def reservations(
        self, info: Info, project: str | None = None, agent_id: str | None = None
    ) -> list[Reservation]:
        principal = _principal(info)
        resolved = coordination_project(principal, service.bounded_project(project))
        scope = resolved if (project or principal.restricted or not agent_id) else None
        async with info.context.read() as session:
            found = await service.live(
                session, project=scope, agent_id=service.bounded_agent(agent_id or "") or None
            )
        return [Reservation.of(r) for r in found]


@strawberry.input(description="A reservation request, as `POST /api/reservations`.")
class ReserveFilesInput:
    agent_id: str
    path_pattern: str
    project: str | None = None
    exclusive: bool = False
    reason: str = ""
    ttl_minutes: int | None = strawberry.field(
        default=None, description=f"Default {service.DEFAULT_TTL_MINUTES}; at most a day."
    )


@strawberry.type
class ReserveFilesPayload:
    reservation: Reservation


@strawberry.type(description="The request overlaps live reservations it may not coexist with.")
class ReservationConflictError(MutationError):
    conflicts: list[JSON] = strawberry.field(
        description="As in the REST 409: reservation_id, agent_id, held_by, pattern, exclusive, "
        "reason, expires_at."
    )


@strawberry.type(description="Only the holding agent may release a reservation.")
class NotHolderError(MutationError):
    pass


ReserveFilesResult = Annotated[
    ReserveFilesPayload | ValidationError | ReservationConflictError,
    strawberry.union("ReserveFilesResult"),
]
ReleaseReservationResult = Annotated[
    ReserveFilesPayload | ValidationError | NotFoundError | NotHolderError,
    strawberry.union("ReleaseReservationResult"),
]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Reserve a glob pattern of files for an agent.")
    async def reserve_files(self, info: Info, input: ReserveFilesInput) -> ReserveFilesResult:
        project = coordination_project(_principal(info), service.bounded_project(input.project))

        async def call(session: AsyncSession) -> ReserveFilesPayload:
            made = await service.reserve(
                session,
                agent_id=input.agent_id,
                project=project,
                path_pattern=input.path_pattern,
                exclusive=input.exclusive,
                reason=input.reason,
                ttl=input.ttl_minutes,
            )
            return ReserveFilesPayload(reservation=Reservation.of(made))

        try:
            return await run_in_transaction(info, call)  # type: ignore[return-value]
        except service.ReservationConflict as exc:
            return ReservationConflictError(
                message="reservation_conflict",
                field="pathPattern",
                conflicts=cast(list[JSON], exc.conflicts),
            )

    @strawberry.mutation(description="Release a reservation; only its holder (`agentId`) may.")
    async def release_reservation(
        self, info: Info, id: strawberry.ID, agent_id: str
    ) -> ReleaseReservationResult:
        principal = _principal(info)

        async def call(session: AsyncSession) -> ReserveFilesPayload:
            found = await service.get(session, str(id))
            project = coordination_project(principal, found.project)
            released = await service.release(
                session, reservation_id=str(id), caller_agent=agent_id, project=project
            )
            return ReserveFilesPayload(reservation=Reservation.of(released))

        try:
            return await run_in_transaction(info, call, target="id")  # type: ignore[return-value]
        except service.NotHolder as exc:
            return NotHolderError(message=exc.message, field="agentId")


EVENT_TYPES = frozenset({service.CREATED, service.RELEASED})


@strawberry.type(description="A reservation made or ended (released, expired or agent_stale).")
class ReservationEvent:
    type: str = strawberry.field(
        description=f"{service.CREATED} or {service.RELEASED} (the outbox event type)."
    )
    reservation: Reservation = strawberry.field(description="As the event recorded it.")


def _matches(row: EventRow, project: str | None, agent_id: str | None) -> bool:
    if row.event_type not in EVENT_TYPES:
        return False
    payload = _payload(row)
    return (project is None or payload.get("project") == project) and (
        agent_id is None or payload.get("agent_id") == agent_id
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Reservations made and ended, as committed: in `project` (a key restricted "
        "to iMi projects sees only its own; absent for an unrestricted caller: every project) "
        "and, when given, held by `agentId`."
    )
    async def reservation_changed(
        self, info: Info, project: str | None = None, agent_id: str | None = None
    ) -> AsyncGenerator[ReservationEvent, None]:
        where = _project(info, service.bounded_project(project))
        holder = service.bounded_agent(agent_id) if agent_id else None
        subscription = await _subscribe(info, lambda row: _matches(row, where, holder))
        async with subscription:
            while True:
                for row in await _next_batch(info, subscription):
                    yield ReservationEvent(
                        type=row.event_type, reservation=Reservation.from_payload(_payload(row))
                    )
                await _release(info.context)
