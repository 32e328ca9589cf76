"""The REST compatibility API: v3 PRD and v2 contract paths side by side under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from imi.api.routes import (
    activities,
    components,
    insights_delivery,
    insights_impact,
    insights_stale,
    keys,
    links,
    projects,
    trace,
    work,
    worktrees,
)

API_PREFIX = "/api/v1"


def rest_router() -> APIRouter:
    router = APIRouter()
    # Order matters where paths overlap: /projects/search before /projects/{id}, and
    # /work/git-state before /work/{id}.
    for area in (projects, work, worktrees, activities, links, trace, components, keys):
        router.include_router(area.router)
    router.include_router(insights_delivery.router)
    router.include_router(insights_stale.router)
    router.include_router(insights_impact.router)
    return router
