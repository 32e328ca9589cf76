"""Agent activity log (v2 contract 1.4): what an agent did, on which work item."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.activities.models import Activity, ActivityCreate
from imi.batches import among
from imi.errors import NotFound, ValidationFailed
from imi.outbox import PendingEvent, emit
from imi.pagination import check_window
from imi.projects.models import Project
from imi.serialize import row_dict
from imi.work.models import WorkItem
from imi.work.service import touch_work_items


@dataclass(frozen=True, slots=True)
class RecentActivity:
    """An activity with the names of where it happened (v2 recent-work row)."""

    activity: Activity
    work_item_id: uuid.UUID | None
    worktree_name: str | None
    branch_name: str | None
    project_id: uuid.UUID | None
    project_name: str | None


async def log_activity(session: AsyncSession, data: ActivityCreate) -> Activity:
    """Record an activity and bump its work item's last activity time."""
    agent_id = data.agent_id.strip()
    if not agent_id:
        raise ValidationFailed("agent_id must not be empty", field="agent_id")
    if data.work_item_id is not None:
        if await session.get(WorkItem, data.work_item_id) is None:
            raise NotFound("work item", data.work_item_id, field="work_item_id")
        await touch_work_items(session, [data.work_item_id])
    stmt = (
        insert(Activity)
        .values(
            agent_id=agent_id,
            work_item_id=data.work_item_id,
            activity_type=data.activity_type.value,
            description=data.description,
            file_path=data.file_path,
            meta=data.metadata,
            # Wall-clock time, so activities logged in one transaction keep their order.
            created_at=func.clock_timestamp(),
        )
        .returning(Activity)
    )
    activity = (await session.execute(stmt)).scalar_one()
    body = row_dict(activity)
    await emit(
        session,
        PendingEvent(
            "imi.activity.logged",
            "activity",
            activity.id,
            # worktree_id: the v2 contract's name for the work item.
            {"activity_id": activity.id, **body, "worktree_id": activity.work_item_id},
        ),
    )
    return activity


async def recent_work(
    session: AsyncSession, agent_id: str, *, limit: int = 50, before: datetime | None = None
) -> list[RecentActivity]:
    """An agent's latest activities, newest first, with worktree and project names."""
    check_window(limit, 0)
    stmt = (
        select(
            Activity,
            col(WorkItem.id),
            col(WorkItem.name),
            col(WorkItem.branch_name),
            col(Project.id),
            col(Project.name),
        )
        .outerjoin(WorkItem, col(WorkItem.id) == col(Activity.work_item_id))
        .outerjoin(Project, col(Project.id) == col(WorkItem.project_id))
        .where(col(Activity.agent_id) == agent_id)
        .order_by(col(Activity.created_at).desc(), col(Activity.id).desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(col(Activity.created_at) < before)
    rows = (await session.execute(stmt)).all()
    return [RecentActivity(*row) for row in rows]


async def list_activities(
    session: AsyncSession,
    *,
    agent_id: str | None = None,
    work_item_ids: list[uuid.UUID] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Activity]:
    """Activities newest first, by agent and/or work items."""
    check_window(limit, offset)
    stmt = select(Activity).order_by(col(Activity.created_at).desc(), col(Activity.id).desc())
    if agent_id is not None:
        stmt = stmt.where(col(Activity.agent_id) == agent_id)
    if work_item_ids is not None:
        stmt = stmt.where(among(col(Activity.work_item_id), work_item_ids))
    return list((await session.execute(stmt.limit(limit).offset(offset))).scalars())
