"""Loaders for projects."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.graphql.loaders import Loader
from imi.projects.models import Project, ProjectCounts
from imi.projects.service import project_counts


class ProjectById(Loader[uuid.UUID, Project | None]):
    async def load_batch(
        self, session: AsyncSession, keys: list[uuid.UUID]
    ) -> list[Project | None]:
        rows = (await session.execute(select(Project).where(col(Project.id).in_(keys)))).scalars()
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]


class CountsByProject(Loader[uuid.UUID, ProjectCounts]):
    async def load_batch(self, session: AsyncSession, keys: list[uuid.UUID]) -> list[ProjectCounts]:
        counts = await project_counts(session, keys)
        return [counts[key] for key in keys]
