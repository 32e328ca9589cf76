"""Projects: the v3 PRD paths and the v2 contract's (`/projects/register`, `/projects/search`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse

from imi.api.deps import Session, parse_id
from imi.api.envelope import (
    Envelope,
    PageEnvelope,
    envelope_response,
    error_responses,
    example,
    page_envelope,
)
from imi.api.params import metadata_filter
from imi.api.schemas import ProjectMatchOut, ProjectOut
from imi.models_base import MAX_PAGE_SIZE
from imi.projects import queries, service
from imi.projects.models import Project, ProjectCreate, ProjectUpdate

router = APIRouter(tags=["projects"])

REGISTER_EXAMPLE = {
    "name": "my-awesome-app",
    "remote_origin": "git@github.com:delorenj/my-awesome-app.git",
    "default_branch": "main",
    "trunk_path": "/home/jarad/code/my-awesome-app/trunk-main",
    "metadata": {"language": "rust", "framework": "axum"},
}
EXISTING: dict[int | str, dict[str, Any]] = {
    200: {"description": "Already registered: the existing project"}
}
RegisterBody = Annotated[
    ProjectCreate, Body(openapi_examples=example(REGISTER_EXAMPLE, "Register a repository"))
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"At most {MAX_PAGE_SIZE}.")]
Offset = Annotated[int, Query(ge=0)]


async def _with_counts(session: Session, project: Project) -> ProjectOut:
    counts = await service.project_counts(session, [project.id])
    return ProjectOut.of(project, counts[project.id])


async def _register(session: Session, body: ProjectCreate) -> JSONResponse:
    result = await service.register_project(session, body)
    out = await _with_counts(session, result.project)
    # 201 when this call created (or re-activated) it; 200 when it already existed.
    status = 200 if result.existed else 201
    return JSONResponse(Envelope(data=out).model_dump(mode="json"), status_code=status)


@router.post(
    "/projects",
    status_code=201,
    response_model=Envelope[ProjectOut],
    responses=EXISTING | error_responses(400, 422),
    summary="Register a project (idempotent on the remote origin)",
)
async def register_project(session: Session, body: RegisterBody) -> JSONResponse:
    return await _register(session, body)


@router.post(
    "/projects/register",
    status_code=201,
    response_model=Envelope[ProjectOut],
    responses=EXISTING | error_responses(400),
    summary="Register a project (v2 contract path)",
)
async def register_project_v2(session: Session, body: RegisterBody) -> JSONResponse:
    return await _register(session, body)


@router.get(
    "/projects",
    response_model=PageEnvelope[ProjectOut]
    | Envelope[ProjectOut]
    | Envelope[list[ProjectMatchOut]],
    responses=error_responses(400, 404, 422),
    summary="List projects, look one up by remote origin, or search",
    description=(
        "With `remote_origin` the matching project (any equivalent spelling) or 404; with `q` a "
        "fuzzy search (like `/projects/search`); otherwise a page of projects by name, "
        "filtered by `active` and by `metadata` (a JSON object the project's metadata must "
        "contain)."
    ),
)
async def list_projects(
    session: Session,
    remote_origin: str | None = None,
    q: str | None = None,
    active: bool | None = None,
    metadata: Annotated[str | None, Query(examples=['{"team": "core"}'])] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    if remote_origin is not None:
        return envelope_response(await queries.project_by_origin(session, remote_origin))
    if q is not None:
        return await _search(session, q, min(limit, service.SEARCH_MAX_LIMIT))
    page = await service.list_projects(
        session, active=active, metadata=metadata_filter(metadata), limit=limit, offset=offset
    )
    counts = await service.project_counts(session, [p.id for p in page.items])
    return page_envelope(page, [ProjectOut.of(p, counts[p.id]) for p in page.items])


async def _search(session: Session, q: str, limit: int) -> Response:
    matches = await service.search_projects(session, q, limit=limit)
    return envelope_response(
        [
            {
                "id": m.project.id,
                "project_id": m.project.id,
                "name": m.project.name,
                "remote_origin": m.project.remote_origin,
                "trunk_path": m.project.trunk_path,
                "active": m.project.active,
                "relevance": m.relevance,
            }
            for m in matches
        ]
    )


@router.get(
    "/projects/search",
    response_model=Envelope[list[ProjectMatchOut]],
    responses=error_responses(400),
    summary="Fuzzy search by name or remote origin, best match first",
)
async def search_projects(
    session: Session,
    q: Annotated[str, Query(description="Search text", examples=["awesome"])],
    limit: Annotated[int, Query(ge=1, le=service.SEARCH_MAX_LIMIT)] = 20,
) -> Response:
    return await _search(session, q, limit)


@router.get(
    "/projects/{project_id}",
    response_model=Envelope[ProjectOut],
    responses=error_responses(404),
    summary="Get a project with its worktree counts",
)
async def get_project(session: Session, project_id: str) -> Response:
    return envelope_response(await queries.project_by_id(session, parse_id(project_id, "project")))


@router.patch(
    "/projects/{project_id}",
    response_model=Envelope[ProjectOut],
    responses=error_responses(400, 404, 422),
    summary="Update a project (metadata merges key by key unless replace_metadata)",
)
async def update_project(
    session: Session,
    project_id: str,
    body: Annotated[
        ProjectUpdate,
        Body(
            openapi_examples=example(
                {"description": "Updated description", "metadata": {"team": "backend"}}
            )
        ),
    ],
) -> Envelope[ProjectOut]:
    project = await service.update_project(session, parse_id(project_id, "project"), body)
    return Envelope(data=await _with_counts(session, project))


@router.delete(
    "/projects/{project_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404),
    summary="Deactivate a project and its work items (soft delete)",
)
async def deactivate_project(session: Session, project_id: str) -> Response:
    await service.deactivate_project(session, parse_id(project_id, "project"))
    return Response(status_code=204)
