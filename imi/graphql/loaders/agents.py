"""Loaders for agents (owner ids): which ones iMi has seen."""

from __future__ import annotations

from sqlalchemy import CompoundSelect, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.activities.models import Activity
from imi.graphql.loaders import Loader
from imi.work.models import WorkItem


class AgentById(Loader[str, str | None]):
    """The owner id when any work item or activity carries it, else None (one statement)."""

    async def load_batch(self, session: AsyncSession, keys: list[str]) -> list[str | None]:
        stmt: CompoundSelect[str | None] = union(
            select(col(WorkItem.owner_id)).where(col(WorkItem.owner_id).in_(keys)),
            select(col(Activity.agent_id)).where(col(Activity.agent_id).in_(keys)),
        )
        known = set((await session.execute(stmt)).scalars())
        return [key if key in known else None for key in keys]
