"""`GET /insights/stale-work`: active work that looks stale, and why (imi.insights.stale)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from imi.api.deps import Session
from imi.api.envelope import PageEnvelope, error_responses, page_envelope
from imi.api.schemas import WorkItemOut
from imi.insights import stale
from imi.insights.stale import StaleOrder, StaleReason
from imi.models_base import MAX_PAGE_SIZE

router = APIRouter(tags=["insights"])


class StaleWorkOut(BaseModel):
    work_item: WorkItemOut
    reasons: list[StaleReason]
    idle_seconds: int = Field(description="Seconds since its last activity.")
    behind_trunk: int
    stale_since: datetime | None = Field(
        description="When the stale-work job announced it (imi.work.stale); null until then."
    )

    @classmethod
    def of(cls, item: stale.StaleItem) -> StaleWorkOut:
        row: Any = item.work_item
        return cls(
            work_item=WorkItemOut.of(row),
            reasons=item.reasons,
            idle_seconds=item.idle_seconds,
            behind_trunk=item.behind_trunk,
            stale_since=item.stale_since,
        )


@router.get(
    "/insights/stale-work",
    response_model=PageEnvelope[StaleWorkOut],
    responses=error_responses(400, 422),
    summary="Stale work: active work items idle, far behind trunk, uncommitted or orphaned",
    description="Reasons: `idle` (last activity `idle_hours` ago or more), `far_behind_trunk` "
    "(`behind_trunk` commits or more), `uncommitted_no_activity` (uncommitted changes, last "
    "activity `uncommitted_idle_hours` ago or more), `owner_heartbeat_stopped` (the owner is a "
    "registered agent with no heartbeat within the agents' liveness window). Thresholds "
    "default to the IMI_STALE_* settings; hours 1..8760, `behind_trunk` 1..1000000 (400 "
    "otherwise). `order`: idle_desc (default), idle_asc, behind_trunk_desc, behind_trunk_asc.",
)
async def stale_work(
    session: Session,
    project_id: uuid.UUID | None = None,
    idle_hours: int | None = None,
    behind_trunk: int | None = None,
    uncommitted_idle_hours: int | None = None,
    order: StaleOrder = StaleOrder.IDLE_DESC,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageEnvelope[StaleWorkOut]:
    thresholds = stale.StaleThresholds.of(idle_hours, behind_trunk, uncommitted_idle_hours)
    page = await stale.list_stale_work(
        session, thresholds, project_id=project_id, order=order, limit=limit, offset=offset
    )
    return page_envelope(page, [StaleWorkOut.of(item) for item in page.items])
