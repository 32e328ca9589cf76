"""The v2 contract's worktree paths, mapped onto work items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from imi.api.deps import Session, parse_id, parse_query_id
from imi.api.envelope import Envelope, PageEnvelope, error_responses, page_envelope, page_response
from imi.compat.shapes import GitStateUpdatedV2, InFlightV2, WorkItemOut, inflight_rows
from imi.compat.v2 import GitStateIn, MergeIn, WorktreeCreateV2
from imi.errors import ValidationFailed
from imi.models_base import MAX_PAGE_SIZE
from imi.projects.service import get_project
from imi.work import queries, service
from imi.work.models import (
    CompletionType,
    WorkCompletion,
    WorkFilter,
    WorkSource,
    WorkStatus,
)

router = APIRouter(tags=["worktrees (v2)"])


class MergedV2(BaseModel):
    worktree_id: str
    merged_at: datetime | None
    active: bool


class WorkingPath(BaseModel):
    path: str


@router.post(
    "/projects/{project_id}/worktrees",
    status_code=201,
    response_model=Envelope[WorkItemOut],
    responses=error_responses(400, 404, 409),
    summary="Register a worktree (v2)",
)
async def create_worktree(
    session: Session, project_id: str, body: WorktreeCreateV2
) -> Envelope[WorkItemOut]:
    start = body.to_work_start(parse_id(project_id, "project"), WorkSource())
    item = await service.start_work(session, start)
    return Envelope(data=WorkItemOut.of(item))


@router.get(
    "/projects/{project_id}/worktrees",
    response_model=PageEnvelope[WorkItemOut],
    responses=error_responses(400, 404),
    summary="List a project's worktrees (v2): filter by active, type, agent_id",
)
async def list_worktrees(
    session: Session,
    project_id: str,
    active: bool | None = None,
    type: str | None = None,
    agent_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageEnvelope[WorkItemOut]:
    project = await get_project(session, parse_id(project_id, "project"))
    filters = WorkFilter(project_id=project.id, owner_id=agent_id, work_type=type, active=active)
    page = await queries.list_work(session, filters, limit=limit, offset=offset)
    return page_envelope(page, [WorkItemOut.of(i) for i in page.items])


@router.get(
    "/worktrees/{worktree_id}",
    response_model=Envelope[WorkItemOut],
    responses=error_responses(404),
    summary="Get a worktree (v2)",
)
async def get_worktree(session: Session, worktree_id: str) -> Envelope[WorkItemOut]:
    item = await service.get_work_item(session, parse_id(worktree_id, "worktree"))
    return Envelope(data=WorkItemOut.of(item))


@router.patch(
    "/worktrees/{worktree_id}/git-state",
    response_model=Envelope[GitStateUpdatedV2],
    responses=error_responses(400, 404, 409),
    summary="Update a worktree's git state (v2 field names accepted)",
)
async def update_worktree_git_state(
    session: Session, worktree_id: str, body: GitStateIn
) -> Envelope[GitStateUpdatedV2]:
    result = await service.update_git_state(
        session, body.to_domain(), work_item_id=parse_id(worktree_id, "worktree")
    )
    return Envelope(data=GitStateUpdatedV2.of(result))


@router.post(
    "/worktrees/{worktree_id}/merge",
    response_model=Envelope[MergedV2],
    responses=error_responses(400, 404, 409),
    summary="Mark a worktree merged and deactivate it (v2)",
)
async def merge_worktree(
    session: Session, worktree_id: str, body: MergeIn | None = None
) -> Envelope[MergedV2]:
    body = body or MergeIn()
    item = await service.complete_work(
        session,
        parse_id(worktree_id, "worktree"),
        WorkCompletion(
            completion_type=CompletionType.MERGED,
            merge_commit_hash=body.merge_commit_hash,
            merged_by=body.merged_by,
        ),
    )
    return Envelope(
        data=MergedV2(worktree_id=str(item.id), merged_at=item.completed_at, active=item.active)
    )


@router.delete(
    "/worktrees/{worktree_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(404),
    summary="Deactivate a worktree (v2 soft delete; closed as abandoned)",
)
async def delete_worktree(session: Session, worktree_id: str) -> Response:
    await service.remove_work(session, parse_id(worktree_id, "worktree"))
    return Response(status_code=204)


@router.get(
    "/inflight-work",
    response_model=PageEnvelope[InFlightV2],
    responses=error_responses(400),
    summary="Work in flight (every active work item), across projects (v2)",
    description="FR-2.4: all active work items, whatever their git state (`status` tells it: "
    "uncommitted, diverged, ahead, behind, clean), most recently active first. Filters: "
    "`project_id`, `owner_id` (or v2 `agent_id`), `work_type` (v2 `feat` accepted), `status`. "
    "An unknown filter value is a 400 naming the parameter.",
)
async def inflight_work(
    session: Session,
    project_id: Annotated[str | None, Query()] = None,
    owner_id: Annotated[str | None, Query(description="The agent or human owning it.")] = None,
    agent_id: Annotated[str | None, Query(description="v2 name of owner_id.")] = None,
    work_type: Annotated[str | None, Query(description="feature, fix, ... (v2 feat).")] = None,
    status: Annotated[WorkStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    if owner_id is not None and agent_id is not None and owner_id != agent_id:
        raise ValidationFailed("owner_id and agent_id disagree; send one", field="agent_id")
    filters = WorkFilter(
        project_id=parse_query_id(project_id, "project_id") if project_id else None,
        owner_id=owner_id if owner_id is not None else agent_id,
        work_type=work_type,
        status=status,
    )
    page = await queries.list_in_flight(session, filters, limit=limit, offset=offset)
    return page_response(page, inflight_rows(page.items))


@router.get(
    "/projects/{project_id}/working-path",
    response_model=Envelope[WorkingPath],
    responses=error_responses(404),
    summary="Trunk path of a project, or the path of one of its worktrees (v2)",
)
async def working_path(
    session: Session, project_id: str, worktree_name: str | None = None
) -> Envelope[WorkingPath]:
    path = await queries.working_path(session, parse_id(project_id, "project"), worktree_name)
    return Envelope(data=WorkingPath(path=path))
