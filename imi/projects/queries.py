"""Hot project reads: plain rows in one statement, shaped straight into a response.

A lookup by id or by origin answers the project with its work counts from one round trip
(counted over the active work only, which the partial index of migration 0007 serves). The
rows are mappings of plain values: no ORM instance, nothing re-validated.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from imi.errors import NotFound
from imi.prepared import Prepared
from imi.projects.origin import normalize_remote_origin

PROJECT_WITH_COUNTS = """
SELECT p.id, p.name, p.remote_origin, p.default_branch, p.trunk_path, p.description,
       p.metadata, p.active, p.created_at, p.updated_at,
       c.active AS n_active, c.uncommitted AS n_uncommitted, c.unmerged AS n_unmerged
FROM projects p
CROSS JOIN LATERAL (
    SELECT count(*) AS active,
           count(*) FILTER (WHERE w.has_uncommitted_changes) AS uncommitted,
           count(*) FILTER (WHERE w.ahead_of_trunk > 0) AS unmerged
    FROM work_items w WHERE w.project_id = p.id AND w.active
) c
"""
BY_ID = Prepared(text(PROJECT_WITH_COUNTS + "WHERE p.id = :key"))
BY_ORIGIN = Prepared(text(PROJECT_WITH_COUNTS + "WHERE p.remote_origin_normalized = :key"))


def project_view(row: Any) -> dict[str, Any]:
    """The REST shape of a project row with counts (``ProjectOut``: v3 and v2 id names)."""
    active = row.n_active
    return {
        "id": row.id,
        "project_id": row.id,
        "name": row.name,
        "remote_origin": row.remote_origin,
        "default_branch": row.default_branch,
        "trunk_path": row.trunk_path,
        "description": row.description,
        "metadata": row.metadata,
        "active": row.active,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "worktree_counts": {
            "active": active,
            "in_flight": active,  # in flight = active (FR-2.4)
            "uncommitted": row.n_uncommitted,
            "unmerged": row.n_unmerged,
        },
    }


async def project_by_id(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Any]:
    row = await BY_ID.first(session, {"key": project_id})
    if row is None:
        raise NotFound("project", project_id)
    return project_view(row)


async def project_by_origin(session: AsyncSession, remote_origin: str) -> dict[str, Any]:
    """By remote origin in any equivalent spelling; ValidationFailed for a malformed one."""
    normalized = normalize_remote_origin(remote_origin)
    row = await BY_ORIGIN.first(session, {"key": normalized})
    if row is None:
        raise NotFound("project", normalized, field="remote_origin")
    return project_view(row)
