"""Response shapes of the REST dialect: v3 names first, the v2 contract's names beside them.

Every adapter that answers in it (REST, MCP) builds its answers here, so the same input gets
the same JSON on every surface.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imi.activities.models import Activity
from imi.projects.models import Project, ProjectCounts
from imi.work.models import GitStateResult, WorkItem
from imi.work.v2 import v2_type_id, v2_type_name


class WorktreeCounts(BaseModel):
    active: int
    in_flight: int = Field(description="Work in flight: every active work item (FR-2.4).")
    uncommitted: int = Field(description="Active work with uncommitted changes.")
    unmerged: int = Field(description="Active work with commits not yet on trunk.")


class ProjectOut(BaseModel):
    """A project. ``id`` and ``project_id`` are the same value (v3 and v2 readers)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "550e8400-e29b-41d4-a716-446655440000",
                "project_id": "550e8400-e29b-41d4-a716-446655440000",
                "name": "my-awesome-app",
                "remote_origin": "git@github.com:delorenj/my-awesome-app.git",
                "default_branch": "main",
                "trunk_path": "/home/jarad/code/my-awesome-app/trunk-main",
                "description": None,
                "metadata": {"language": "rust"},
                "active": True,
                "created_at": "2026-01-21T14:30:22Z",
                "updated_at": "2026-01-21T14:30:22Z",
                "worktree_counts": {
                    "active": 3,
                    "in_flight": 3,
                    "uncommitted": 1,
                    "unmerged": 2,
                },
            }
        }
    )

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    remote_origin: str
    default_branch: str
    trunk_path: str | None
    description: str | None
    metadata: dict[str, Any]
    active: bool
    created_at: datetime | None
    updated_at: datetime | None
    worktree_counts: WorktreeCounts | None = None

    @classmethod
    def of(cls, project: Project, counts: ProjectCounts | None = None) -> ProjectOut:
        return cls(
            id=project.id,
            project_id=project.id,
            name=project.name,
            remote_origin=project.remote_origin,
            default_branch=project.default_branch,
            trunk_path=project.trunk_path,
            description=project.description,
            metadata=project.meta,
            active=project.active,
            created_at=project.created_at,
            updated_at=project.updated_at,
            worktree_counts=WorktreeCounts(**counts.model_dump()) if counts else None,
        )


class ProjectMatchOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    remote_origin: str
    trunk_path: str | None
    active: bool
    relevance: float = Field(ge=0, le=1)


class WorkItemOut(BaseModel):
    """A work item; ``type_name``/``path``/``agent_id`` are the v2 worktree names."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "660e8400-e29b-41d4-a716-446655440001",
                "work_item_id": "660e8400-e29b-41d4-a716-446655440001",
                "project_id": "550e8400-e29b-41d4-a716-446655440000",
                "branch_name": "feat/user-auth",
                "name": "feat-user-auth",
                "work_type": "feature",
                "type_name": "feat",
                "type_id": 1,
                "source": {"type": "plane_ticket", "ref": "PROJ-123"},
                "owner_id": "agent-coder-1",
                "agent_id": "agent-coder-1",
                "worktree_path": "/home/jarad/code/my-awesome-app/feat-user-auth",
                "path": "/home/jarad/code/my-awesome-app/feat-user-auth",
                "has_uncommitted_changes": True,
                "uncommitted_files_count": 3,
                "ahead_of_trunk": 2,
                "behind_trunk": 0,
                "status": "uncommitted",
                "active": True,
            }
        }
    )

    id: uuid.UUID
    work_item_id: uuid.UUID
    project_id: uuid.UUID
    branch_name: str
    name: str
    work_type: str
    type_name: str
    type_id: int | None = Field(
        description="v2 worktree type id (feat 1, fix 2, aiops 3, "
        "devops 4, review 5); null for experiment, which v2 does not have."
    )
    source: dict[str, str | None]
    owner_id: str | None
    agent_id: str | None
    worktree_path: str | None
    path: str | None
    has_uncommitted_changes: bool
    uncommitted_files_count: int
    ahead_of_trunk: int
    behind_trunk: int
    last_commit_hash: str | None
    last_commit_message: str | None
    last_sync_at: datetime | None
    status: str | None
    last_activity_at: datetime | None
    completed_at: datetime | None
    completion_type: str | None
    merge_commit_hash: str | None
    merged_by: str | None
    active: bool
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, item: WorkItem) -> WorkItemOut:
        return cls(
            id=item.id,
            work_item_id=item.id,
            project_id=item.project_id,
            branch_name=item.branch_name,
            name=item.name,
            work_type=item.work_type,
            type_name=v2_type_name(item.work_type),
            type_id=v2_type_id(item.work_type),
            source={"type": item.source_type, "ref": item.source_ref},
            owner_id=item.owner_id,
            agent_id=item.owner_id,
            worktree_path=item.worktree_path,
            path=item.worktree_path,
            has_uncommitted_changes=item.has_uncommitted_changes,
            uncommitted_files_count=item.uncommitted_files_count,
            ahead_of_trunk=item.ahead_of_trunk,
            behind_trunk=item.behind_trunk,
            last_commit_hash=item.last_commit_hash,
            last_commit_message=item.last_commit_message,
            last_sync_at=item.last_sync_at,
            status=item.status,
            last_activity_at=item.last_activity_at,
            completed_at=item.completed_at,
            completion_type=item.completion_type,
            merge_commit_hash=item.merge_commit_hash,
            merged_by=item.merged_by,
            active=item.active,
            metadata=item.meta,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


class GitStateOut(WorkItemOut):
    """The work item after a git-state report, plus what the report did."""

    worktree_id: uuid.UUID
    applied: bool = Field(description="False when the report was older than the stored state.")
    updated_fields: list[str]

    @classmethod
    def of(cls, result: GitStateResult) -> GitStateOut:  # type: ignore[override]
        base = WorkItemOut.of(result.work_item).model_dump()
        return cls(
            **base,
            worktree_id=result.work_item.id,
            applied=result.applied,
            updated_fields=result.updated_fields,
        )


# No docstrings on the three models below: a docstring would change their OpenAPI description.
# v2 ``PATCH /worktrees/{id}/git-state`` (MCP ``update_git_state``).
class GitStateUpdatedV2(BaseModel):
    worktree_id: str
    updated_fields: list[str]
    applied: bool

    @classmethod
    def of(cls, result: GitStateResult) -> GitStateUpdatedV2:
        return cls(
            worktree_id=str(result.work_item.id),
            updated_fields=result.updated_fields,
            applied=result.applied,
        )


# One row of v2 ``GET /inflight-work`` (MCP ``get_inflight_work``).
class InFlightV2(BaseModel):
    worktree_id: str
    worktree_name: str
    project_id: str
    project_name: str
    branch_name: str
    status: str | None
    uncommitted_count: int
    ahead: int
    behind: int
    agent_id: str | None
    last_activity: datetime | None


def inflight_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """:class:`InFlightV2` as plain values from the in-flight query's rows (the hot path)."""
    return [
        {
            "worktree_id": r.id,
            "worktree_name": r.name,
            "project_id": r.project_id,
            "project_name": r.project_name,
            "branch_name": r.branch_name,
            "status": r.status,
            "uncommitted_count": r.uncommitted_files_count,
            "ahead": r.ahead_of_trunk,
            "behind": r.behind_trunk,
            "agent_id": r.owner_id,
            "last_activity": r.last_activity_at,
        }
        for r in rows
    ]


# A logged activity; ``worktree_id`` is the v2 name of ``work_item_id``.
class ActivityOut(BaseModel):
    activity_id: str
    id: str
    agent_id: str
    work_item_id: str | None
    worktree_id: str | None
    activity_type: str
    description: str | None
    file_path: str | None
    metadata: dict[str, Any]
    created_at: datetime | None

    @classmethod
    def of(cls, activity: Activity) -> ActivityOut:
        work_item_id = str(activity.work_item_id) if activity.work_item_id else None
        return cls(
            activity_id=str(activity.id),
            id=str(activity.id),
            agent_id=activity.agent_id,
            work_item_id=work_item_id,
            worktree_id=work_item_id,
            activity_type=activity.activity_type,
            description=activity.description,
            file_path=activity.file_path,
            metadata=activity.meta,
            created_at=activity.created_at,
        )
