"""intermute agents: ``POST/GET /api/agents``, ``POST /api/agents/{id}/heartbeat``,
``GET /api/agents/presence`` (intermute's own paths, not under ``/api/v1``).

Bodies and query values are parsed here rather than by FastAPI so that malformed input is a
400 as intermute clients expect (FastAPI would answer 422); errors keep iMi's envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from imi.api.deps import Session
from imi.api.envelope import error_responses
from imi.auth.policy import coordination_project
from imi.auth.principal import current_principal
from imi.compat.intermute import model_of
from imi.coordination import agents
from imi.coordination.agents import LIVENESS_SECONDS
from imi.errors import Conflict, ValidationFailed

router = APIRouter(tags=["coordination"])


# -- helpers the coordination routes share ----------------------------------------------------


async def json_body(request: Request, model: type[BaseModel]) -> Any:
    """The body as ``model`` (an empty body is ``{}``); 400 otherwise (``compat.intermute``)."""
    return model_of(await request.body(), model, empty_is_object=True)


def project_of(requested: str | None) -> str:
    """The intermute project of this request: the one policy decides (403 when refused)."""
    principal = current_principal()
    if principal is None:
        return (requested or "").strip()
    return coordination_project(principal, requested)


def project_filter(requested: str | None) -> str | None:
    """Like :func:`project_of`, but an unrestricted caller naming no project means every
    project (None)."""
    principal = current_principal()
    if requested is None and (principal is None or not principal.restricted):
        return None
    return project_of(requested)


def int_param(
    request: Request, name: str, default: int, *, low: int = 0, high: int = 2**63 - 1
) -> int:
    """An integer query value in [low, high]; anything else is a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}", field=name)
    return value


def rfc3339(value: datetime, *, nano: bool = False) -> str:
    """Go's time.RFC3339 (seconds) or RFC3339Nano (fraction without trailing zeros), UTC."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


# -- agents ----------------------------------------------------------------------------------


class RegisterAgentIn(BaseModel):
    name: str = ""
    session_id: str = ""
    project: str = ""
    capabilities: list[str] | None = None
    metadata: dict[str, str] | None = None
    status: str = ""


class RegisterAgentOut(BaseModel):
    agent_id: str = Field(examples=["3f0c7f55-5d3c-4a53-9a47-4bf1f0a8d1b2"])
    session_id: str
    name: str = Field(examples=["quiet-falcon-7f3a"])
    cursor: int = Field(0, description="Always 0 (intermute): read the inbox from the start.")


class AgentOut(BaseModel):
    agent_id: str
    session_id: str
    name: str
    project: str
    capabilities: list[str]
    metadata: dict[str, str]
    status: str
    last_seen: str = Field(examples=["2026-11-27T13:00:00Z"])
    created_at: str


class AgentsOut(BaseModel):
    agents: list[AgentOut]


class PresenceOut(BaseModel):
    agent_id: str
    name: str
    project: str
    status: str
    last_seen: str
    online: bool = Field(description=f"last_seen within {agents.LIVENESS_SECONDS} s")


class PresenceListOut(BaseModel):
    agents: list[PresenceOut]
    online_within_seconds: int = LIVENESS_SECONDS


def agent_json(agent: agents.Agent) -> dict[str, Any]:
    return {
        "agent_id": str(agent.id),
        "session_id": agent.session_id,
        "name": agent.name,
        "project": agent.project,
        "capabilities": agent.capabilities,
        "metadata": agent.metadata,
        "status": agent.status,
        "last_seen": rfc3339(agent.last_seen),
        "created_at": rfc3339(agent.created_at),
    }


REGISTER_EXAMPLE = {
    "name": "reviewer",
    "project": "autarch",
    "capabilities": ["review", "go"],
    "metadata": {"host": "dev-1"},
    "status": "idle",
}


@router.post(
    "/api/agents",
    response_model=RegisterAgentOut,
    responses={
        **error_responses(400, 403),
        409: {
            "description": "`session_id` held by an online agent: intermute's body "
            '`{"error": "session_id is in use by an active agent", '
            '"code": "active_session_conflict"}`'
        },
    },
    summary="Register an agent (intermute)",
    description="A name is generated when empty, a session_id when absent. A known session_id "
    "whose agent went stale is taken over (same agent_id).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": RegisterAgentIn.model_json_schema(),
                    "example": REGISTER_EXAMPLE,
                }
            },
        }
    },
)
async def register_agent(session: Session, request: Request) -> JSONResponse:
    body: RegisterAgentIn = await json_body(request, RegisterAgentIn)
    project = project_of(body.project)
    try:
        agent = await agents.register_agent(
            session,
            agents.AgentIn(
                name=body.name,
                project=project,
                session_id=body.session_id,
                capabilities=body.capabilities or [],
                metadata=body.metadata,
                status=body.status,
            ),
        )
    except Conflict as exc:  # raised before anything was written
        code = "active_session_conflict"
        return JSONResponse({"error": exc.message, "code": code}, status_code=409)
    out = {"agent_id": str(agent.id), "session_id": agent.session_id, "name": agent.name}
    return JSONResponse({**out, "cursor": 0})


@router.get(
    "/api/agents",
    response_model=AgentsOut,
    responses=error_responses(400, 403),
    summary="List agents (intermute)",
    description="Agents of `project` (every project when omitted by an unrestricted caller), "
    f"oldest first, at most `limit` (default and maximum {agents.MAX_LIST}).",
)
async def list_agents(
    session: Session, request: Request, project: str | None = None
) -> JSONResponse:
    limit = int_param(request, "limit", agents.MAX_LIST, low=1, high=agents.MAX_LIST)
    found = await agents.list_agents(session, project_filter(project), limit=limit)
    return JSONResponse({"agents": [agent_json(a) for a in found]})


@router.get(
    "/api/agents/presence",
    response_model=PresenceListOut,
    responses=error_responses(400, 403),
    summary="Agents' liveness (intermute)",
    description=f"Online while the last heartbeat is at most {agents.LIVENESS_SECONDS} s old.",
)
async def agent_presence(
    session: Session, request: Request, project: str | None = None
) -> JSONResponse:
    limit = int_param(request, "limit", agents.MAX_LIST, low=1, high=agents.MAX_LIST)
    found = await agents.list_agents(session, project_filter(project), limit=limit)
    rows = [
        {
            "agent_id": str(a.id),
            "name": a.name,
            "project": a.project,
            "status": a.status,
            "last_seen": rfc3339(a.last_seen),
            "online": a.online,
        }
        for a in found
    ]
    return JSONResponse({"agents": rows, "online_within_seconds": agents.LIVENESS_SECONDS})


@router.post(
    "/api/agents/{agent_id}/heartbeat",
    responses={
        200: {"content": {"application/json": {"example": {"agent_id": "..."}}}},
        **error_responses(403, 404),
    },
    summary="Heartbeat: the agent is alive (intermute)",
    description="Moves `last_seen`. 404 for an unknown agent, or one of another project when "
    "the key is bound to a project.",
)
async def agent_heartbeat(
    session: Session, agent_id: str, project: str | None = None
) -> JSONResponse:
    # A key bound to projects heartbeats only its project's agents (row-level security
    # agrees); a key of several projects names one with ?project=.
    principal = current_principal()
    restricted = principal is not None and principal.restricted
    project = project_of(project) if restricted else None
    agent = await agents.heartbeat(session, agent_id, project)
    return JSONResponse({"agent_id": str(agent.id)})
