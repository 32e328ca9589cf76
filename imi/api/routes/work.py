"""Work in flight, v3 PRD paths (`/work`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from imi.api.deps import Session, parse_id
from imi.api.envelope import Envelope, PageEnvelope, error_responses, example, page_envelope
from imi.api.schemas import GitStateOut, WorkItemOut
from imi.compat.v2 import GitStateByBranchIn, GitStateIn
from imi.models_base import MAX_PAGE_SIZE
from imi.work import queries, service
from imi.work.models import WorkCompletion, WorkFilter, WorkStart, WorkStatus

router = APIRouter(tags=["work"])

START_EXAMPLE = {
    "project_id": "550e8400-e29b-41d4-a716-446655440000",
    "branch_name": "feat/PROJ-123-login",
    "work_type": "feature",
    "source": {"type": "plane_ticket", "ref": "PROJ-123"},
    "owner_id": "agent-coder-1",
    "worktree_path": "/home/jarad/code/my-awesome-app/feat-login",
}


@router.post(
    "/work",
    status_code=201,
    response_model=Envelope[WorkItemOut],
    responses=error_responses(400, 404, 409, 422),
    summary="Start work on a branch (ticket keys in the branch name are linked)",
)
async def start_work(
    session: Session,
    body: Annotated[
        WorkStart, Body(openapi_examples=example(START_EXAMPLE, "Start a feature branch"))
    ],
) -> Envelope[WorkItemOut]:
    return Envelope(data=WorkItemOut.of(await service.start_work(session, body)))


@router.get(
    "/work",
    response_model=PageEnvelope[WorkItemOut],
    responses=error_responses(400, 422),
    summary="List work items, most recently active first",
    description="`active` defaults to true (work in flight); pass `active=false` for "
    "completed work or omit nothing and filter by owner to ask what an agent is doing.",
)
async def list_work(
    session: Session,
    project_id: uuid.UUID | None = None,
    owner_id: str | None = None,
    work_type: str | None = None,
    status: WorkStatus | None = None,
    active: bool | None = True,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageEnvelope[WorkItemOut]:
    filters = WorkFilter(
        project_id=project_id, owner_id=owner_id, work_type=work_type, status=status, active=active
    )
    page = await queries.list_work(session, filters, limit=limit, offset=offset)
    return page_envelope(page, [WorkItemOut.of(i) for i in page.items])


@router.get(
    "/work/{work_item_id}",
    response_model=Envelope[WorkItemOut],
    responses=error_responses(404),
    summary="Get a work item",
)
async def get_work(session: Session, work_item_id: str) -> Envelope[WorkItemOut]:
    item = await service.get_work_item(session, parse_id(work_item_id, "work item"))
    return Envelope(data=WorkItemOut.of(item))


@router.patch(
    "/work/git-state",
    response_model=Envelope[GitStateOut],
    responses=error_responses(400, 404, 422),
    summary="Update git state of the active work item on (project_id, branch_name)",
)
async def update_git_state_by_branch(
    session: Session, body: GitStateByBranchIn
) -> Envelope[GitStateOut]:
    result = await service.update_git_state(
        session, body.to_domain(), project_id=body.project_id, branch_name=body.branch_name
    )
    return Envelope(data=GitStateOut.of(result))


@router.patch(
    "/work/{work_item_id}/git-state",
    response_model=Envelope[GitStateOut],
    responses=error_responses(400, 404, 409, 422),
    summary="Update git state (a report older than the stored one is ignored: applied=false)",
)
async def update_git_state(
    session: Session, work_item_id: str, body: GitStateIn
) -> Envelope[GitStateOut]:
    result = await service.update_git_state(
        session, body.to_domain(), work_item_id=parse_id(work_item_id, "work item")
    )
    return Envelope(data=GitStateOut.of(result))


@router.post(
    "/work/{work_item_id}/complete",
    response_model=Envelope[WorkItemOut],
    responses=error_responses(404, 409, 422),
    summary="Complete work as merged, abandoned or superseded",
)
async def complete_work(
    session: Session,
    work_item_id: str,
    body: Annotated[
        WorkCompletion,
        Body(
            openapi_examples=example(
                {
                    "completion_type": "merged",
                    "merge_commit_hash": "f6e5d4c3b2a1",
                    "merged_by": "agent-merger-1",
                }
            )
        ),
    ],
) -> Envelope[WorkItemOut]:
    item = await service.complete_work(session, parse_id(work_item_id, "work item"), body)
    return Envelope(data=WorkItemOut.of(item))
