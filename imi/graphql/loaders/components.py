"""Loaders for components."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.components.models import Component
from imi.graphql.loaders import Loader, grouped


class ComponentsByProject(Loader[uuid.UUID, list[Component]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[list[Component]]:
        stmt = (
            select(Component)
            .where(col(Component.parent_project_id).in_(keys))
            .order_by(col(Component.name))
        )
        rows = (await session.execute(stmt)).scalars().all()
        return grouped([(c.parent_project_id, c) for c in rows], keys)
