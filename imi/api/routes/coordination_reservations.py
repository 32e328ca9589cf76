"""intermute's file reservation routes, at its own paths (``/api/reservations``).

Shapes and status codes are intermute's (``../shared/INTERMUTE.md``): 201 with the
reservation; 409 with exactly ``{"error": "reservation_conflict", "conflicts": [...]}`` (its
clients read that body); other errors in iMi's envelope. The PRD's names are accepted as
aliases: ``agent`` for ``agent_id``, ``path`` (or a one-element ``glob_patterns``) for
``path_pattern``, ``shared`` for ``not exclusive``; contradicting spellings are a 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from imi.api.deps import Session
from imi.auth.policy import coordination_project
from imi.auth.principal import Principal
from imi.compat.intermute import model_of
from imi.coordination import reservations as service
from imi.errors import ValidationFailed

router = APIRouter(tags=["coordination: reservations"])

RESERVATION_EXAMPLE = {
    "id": "4f7c2a8e-1b7e-4a53-9a55-0a3c1f1f6c01",
    "agent_id": "a1b2c3d4-0000-4000-8000-000000000001",
    "project": "autarch",
    "path_pattern": "internal/http/**",
    "exclusive": True,
    "reason": "refactoring the handlers",
    "created_at": "2026-11-27T13:00:00.123456Z",
    "expires_at": "2026-11-27T13:30:00.123456Z",
    "is_active": True,
}
CONFLICT_EXAMPLE = {
    "reservation_id": RESERVATION_EXAMPLE["id"],
    "agent_id": RESERVATION_EXAMPLE["agent_id"],
    "held_by": "claude-1",
    "pattern": "internal/http/**",
    "exclusive": True,
    "reason": "refactoring the handlers",
    "expires_at": "2026-11-27T13:30:00.123456Z",
}


def _example(body: object) -> dict[str, Any]:
    return {"content": {"application/json": {"example": body}}}


class ReservationIn(BaseModel):
    """``POST /api/reservations``: intermute's fields, and the PRD's names as aliases."""

    model_config = ConfigDict(strict=True, extra="ignore")

    agent_id: str | None = Field(None, description="The holder (required; alias `agent`).")
    agent: str | None = None
    project: str | None = None
    path_pattern: str | None = Field(None, description="A glob (required; alias `path`).")
    path: str | None = None
    glob_patterns: list[str] | None = Field(None, max_length=1)
    exclusive: bool | None = Field(None, description="Default false (shared).")
    shared: bool | None = None
    reason: str = Field("", max_length=service.MAX_REASON_LENGTH)
    ttl_minutes: int | None = Field(
        None,
        description=f"Default {service.DEFAULT_TTL_MINUTES}; at most {service.MAX_TTL_MINUTES}.",
    )


def _one(field: str, *values: str | None) -> str:
    given = {value for value in values if value}
    if len(given) > 1:
        raise ValidationFailed(f"{field} and its alias disagree", field=field)
    if not given:
        raise ValidationFailed(f"{field} is required", field=field)
    return given.pop()


def _exclusive(body: ReservationIn) -> bool:
    if body.exclusive is not None and body.shared is not None and body.exclusive == body.shared:
        raise ValidationFailed("exclusive and shared contradict each other", field="exclusive")
    if body.exclusive is not None:
        return body.exclusive
    return body.shared is False


async def _body(request: Request) -> ReservationIn:
    return model_of(await request.body(), ReservationIn)


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


@router.post(
    "/api/reservations",
    status_code=201,
    summary="Reserve a glob pattern of files",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": ReservationIn.model_json_schema(),
                    "example": {
                        "agent_id": RESERVATION_EXAMPLE["agent_id"],
                        "project": "autarch",
                        "path_pattern": "internal/http/**",
                        "exclusive": True,
                        "reason": "refactoring the handlers",
                        "ttl_minutes": 30,
                    },
                }
            },
        }
    },
    responses={
        201: {"content": {"application/json": {"example": RESERVATION_EXAMPLE}}},
        409: {
            "description": "Overlaps live reservations (intermute's body, not the envelope).",
            "content": {
                "application/json": {
                    "example": {"error": "reservation_conflict", "conflicts": [CONFLICT_EXAMPLE]}
                }
            },
        },
    },
)
async def create_reservation(request: Request, session: Session) -> JSONResponse:
    body = await _body(request)
    patterns = [body.path_pattern, body.path, *(body.glob_patterns or [])]
    pattern = _one("path_pattern", *patterns)
    agent_id = _one("agent_id", body.agent_id, body.agent)
    project = coordination_project(_principal(request), service.bounded_project(body.project))
    try:
        reservation = await service.reserve(
            session,
            agent_id=agent_id,
            project=project,
            path_pattern=pattern,
            exclusive=_exclusive(body),
            reason=body.reason,
            ttl=body.ttl_minutes,
        )
    except service.ReservationConflict as exc:
        content = {"error": "reservation_conflict", "conflicts": exc.conflicts}
        return JSONResponse(content, status_code=409)
    return JSONResponse(reservation.wire(), status_code=201)


@router.get(
    "/api/reservations",
    summary="Live reservations of an agent or a project",
    responses={
        200: {"content": {"application/json": {"example": {"reservations": [RESERVATION_EXAMPLE]}}}}
    },
)
async def list_reservations(
    request: Request,
    session: Session,
    project: Annotated[str | None, Query()] = None,
    agent: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    principal = _principal(request)
    resolved = coordination_project(principal, service.bounded_project(project))
    if agent:
        service.bounded_agent(agent)
        scope = resolved if (project or principal.restricted) else None
        found = await service.live(session, project=scope, agent_id=agent)
    elif resolved:
        found = await service.live(session, project=resolved, agent_id=None)
    else:
        raise ValidationFailed("project or agent is required", field="project")
    return {"reservations": [reservation.wire() for reservation in found]}


@router.get(
    "/api/reservations/check",
    summary="The live reservations a request for a pattern would conflict with",
    responses={
        200: {"content": {"application/json": {"example": {"conflicts": [CONFLICT_EXAMPLE]}}}}
    },
)
async def check_reservations(
    request: Request,
    session: Session,
    pattern: Annotated[str | None, Query()] = None,
    project: Annotated[str | None, Query()] = None,
    exclusive: Annotated[str | None, Query(description="Default true; false or 0: shared")] = None,
) -> dict[str, Any]:
    if not pattern:
        raise ValidationFailed("pattern is required", field="pattern")
    resolved = coordination_project(_principal(request), service.bounded_project(project))
    wants_exclusive = (exclusive or "").strip().lower() not in ("false", "0")
    found = await service.conflicts(
        session, project=resolved, pattern=pattern, exclusive=wants_exclusive
    )
    return {"conflicts": found}


@router.delete(
    "/api/reservations/{reservation_id}",
    summary="Release a reservation (its holder only, named by X-Agent-ID)",
    responses={
        200: {"content": {"application/json": {"example": RESERVATION_EXAMPLE}}},
        403: {"description": "The caller is not the holding agent."},
        404: {"description": "Unknown or already released."},
    },
)
async def release_reservation(
    request: Request,
    session: Session,
    reservation_id: str,
    x_agent_id: Annotated[str | None, Header(description="The caller's agent id")] = None,
) -> dict[str, Any]:
    reservation = await service.get(session, reservation_id)
    project = coordination_project(_principal(request), reservation.project)
    released = await service.release(
        session,
        reservation_id=reservation_id,
        caller_agent=service.bounded_agent((x_agent_id or "").strip()),
        project=project,
    )
    return released.wire()
