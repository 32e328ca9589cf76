"""Agent activities (v2 contract 1.4) and registry statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from imi.activities import service
from imi.activities.models import ActivityCreate, ActivityType
from imi.api.deps import Session
from imi.api.envelope import Envelope, error_responses
from imi.compat.v2 import ActivityIn
from imi.errors import ValidationFailed
from imi.stats.service import Stats, get_stats

router = APIRouter(tags=["activities"])


class ActivityOut(BaseModel):
    activity_id: str
    id: str
    agent_id: str
    work_item_id: str | None
    worktree_id: str | None
    activity_type: str
    description: str | None
    file_path: str | None
    metadata: dict[str, Any]
    created_at: datetime | None


class RecentWorkOut(BaseModel):
    activity_id: str
    activity_type: str
    description: str | None
    file_path: str | None
    created_at: datetime | None
    worktree_id: str | None
    worktree_name: str | None
    branch_name: str | None
    project_id: str | None
    project_name: str | None


class StatsOut(Stats):
    """The domain's counts with the v2 contract's names beside them."""

    total_worktrees: int = Field(description="v2 name of total_work_items.")
    active_worktrees: int = Field(description="v2 name of active_work_items.")
    in_flight_worktrees: int = Field(description="v2 name of in_flight_work_items.")

    @classmethod
    def of(cls, stats: Stats) -> StatsOut:
        return cls(
            **stats.model_dump(),
            total_worktrees=stats.total_work_items,
            active_worktrees=stats.active_work_items,
            in_flight_worktrees=stats.in_flight_work_items,
        )


@router.post(
    "/activities",
    status_code=201,
    response_model=Envelope[ActivityOut],
    responses=error_responses(400, 404),
    summary="Log an agent activity",
)
async def log_activity(session: Session, body: ActivityIn) -> Envelope[ActivityOut]:
    try:
        activity_type = ActivityType(body.activity_type)
    except ValueError:
        allowed = ", ".join(t.value for t in ActivityType)
        raise ValidationFailed(
            f"Invalid activity type {body.activity_type!r}; expected one of {allowed}",
            field="activity_type",
        ) from None
    activity = await service.log_activity(
        session,
        ActivityCreate(
            agent_id=body.agent_id,
            work_item_id=body.work_item_id,
            activity_type=activity_type,
            description=body.description,
            file_path=body.file_path,
            metadata=body.metadata,
        ),
    )
    work_item_id = str(activity.work_item_id) if activity.work_item_id else None
    return Envelope(
        data=ActivityOut(
            activity_id=str(activity.id),
            id=str(activity.id),
            agent_id=activity.agent_id,
            work_item_id=work_item_id,
            worktree_id=work_item_id,
            activity_type=activity.activity_type,
            description=activity.description,
            file_path=activity.file_path,
            metadata=activity.meta,
            created_at=activity.created_at,
        )
    )


@router.get(
    "/agents/{agent_id}/recent-work",
    response_model=Envelope[list[RecentWorkOut]],
    responses=error_responses(400),
    summary="An agent's latest activities, newest first",
)
async def recent_work(
    session: Session, agent_id: str, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Envelope[list[RecentWorkOut]]:
    rows = await service.recent_work(session, agent_id, limit=limit)
    return Envelope(
        data=[
            RecentWorkOut(
                activity_id=str(r.activity.id),
                activity_type=r.activity.activity_type,
                description=r.activity.description,
                file_path=r.activity.file_path,
                created_at=r.activity.created_at,
                worktree_id=str(r.work_item_id) if r.work_item_id else None,
                worktree_name=r.worktree_name,
                branch_name=r.branch_name,
                project_id=str(r.project_id) if r.project_id else None,
                project_name=r.project_name,
            )
            for r in rows
        ]
    )


@router.get(
    "/stats",
    response_model=Envelope[StatsOut],
    tags=["operations"],
    summary="Registry statistics (exact counts)",
)
async def stats(session: Session) -> Envelope[StatsOut]:
    return Envelope(data=StatsOut.of(await get_stats(session)))
