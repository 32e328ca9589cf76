"""Batch reads of activities: pages per work item or per agent, which agents iMi has seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import CompoundSelect, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.activities.models import Activity
from imi.batches import PageOf, among, windowed
from imi.work.models import WorkItem

NEWEST_FIRST = (col(Activity.created_at).desc(), col(Activity.id).desc())


# What a page of activities can be taken per: each work item's, or each agent's.
PARENTS = {"work_item": col(Activity.work_item_id), "agent": col(Activity.agent_id)}


async def activity_pages(
    session: AsyncSession,
    parent: Literal["work_item", "agent"],
    parent_ids: Sequence[Any],
    *,
    offset: int,
    limit: int,
) -> dict[Any, PageOf[Activity]]:
    """One page of each parent's activities, newest first (``{work item id | agent: page}``)."""
    return await windowed(
        session,
        Activity,
        PARENTS[parent],
        parent_ids,
        offset=offset,
        limit=limit,
        order_by=NEWEST_FIRST,
    )


async def known_agents(session: AsyncSession, owner_ids: Sequence[str]) -> set[str]:
    """The owner ids some work item or activity carries (an agent exists once it acted)."""
    stmt: CompoundSelect[str] = union(
        select(col(WorkItem.owner_id)).where(among(col(WorkItem.owner_id), owner_ids)),
        select(col(Activity.agent_id)).where(among(col(Activity.agent_id), owner_ids)),
    )
    return {owner for owner in (await session.execute(stmt)).scalars() if owner is not None}
