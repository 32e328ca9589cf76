"""Rows inserted directly, for tests that need a project or work item to exist."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imi.projects.models import Project
from imi.work.models import WorkItem


async def make_project(session: AsyncSession, **fields: Any) -> Project:
    slug = fields.pop("slug", uuid.uuid4().hex[:8])
    project = Project(
        name=fields.pop("name", f"repo-{slug}"),
        remote_origin=fields.pop("remote_origin", f"git@github.com:acme/repo-{slug}.git"),
        remote_origin_normalized=fields.pop(
            "remote_origin_normalized", f"github.com/acme/repo-{slug}"
        ),
        **fields,
    )
    session.add(project)
    await session.flush()
    return project


async def make_work_item(session: AsyncSession, project: Project, **fields: Any) -> WorkItem:
    branch = fields.pop("branch_name", f"feat/{uuid.uuid4().hex[:8]}")
    item = WorkItem(
        project_id=project.id,
        branch_name=branch,
        name=fields.pop("name", branch.replace("/", "-")),
        work_type=fields.pop("work_type", "feature"),
        **fields,
    )
    session.add(item)
    await session.flush()
    await session.refresh(item)
    return item
