"""Agent activities (v2 contract 1.4) and registry statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from imi.activities import service
from imi.api.deps import Session
from imi.api.envelope import Envelope, error_responses
from imi.compat.shapes import ActivityOut
from imi.compat.v2 import ActivityIn
from imi.stats.service import Stats, get_stats

router = APIRouter(tags=["activities"])


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
    activity = await service.log_activity(session, body.to_domain())
    return Envelope(data=ActivityOut.of(activity))


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
