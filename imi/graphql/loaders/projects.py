"""Loaders for projects."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from imi.graphql.loaders import ById, Loader
from imi.projects.models import Project, ProjectCounts
from imi.projects.service import project_counts


class ProjectById(ById[Project], model=Project):
    pass


class CountsByProject(Loader[uuid.UUID, ProjectCounts]):
    async def load_batch(self, session: AsyncSession, keys: list[uuid.UUID]) -> list[ProjectCounts]:
        counts = await project_counts(session, keys)
        return [counts[key] for key in keys]
