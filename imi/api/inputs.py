"""REST request bodies that differ from the domain inputs (v2 field names, addressing)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field

from imi.models_base import PG_INT_MAX, Input
from imi.work.models import GitState


class GitStateIn(Input):
    """A git-state report; each field also accepts its v2 name (``has_uncommitted``, ...)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "has_uncommitted_changes": True,
                "uncommitted_files_count": 5,
                "ahead_of_trunk": 3,
                "behind_trunk": 0,
                "last_commit_hash": "a1b2c3d4e5f6",
                "last_commit_message": "Add authentication endpoints",
            }
        }
    )

    has_uncommitted_changes: bool | None = Field(
        default=None, validation_alias=AliasChoices("has_uncommitted_changes", "has_uncommitted")
    )
    uncommitted_files_count: int | None = Field(
        default=None,
        ge=0,
        le=PG_INT_MAX,
        validation_alias=AliasChoices("uncommitted_files_count", "uncommitted_count"),
    )
    ahead_of_trunk: int | None = Field(
        default=None, ge=0, le=PG_INT_MAX, validation_alias=AliasChoices("ahead_of_trunk", "ahead")
    )
    behind_trunk: int | None = Field(
        default=None,
        ge=0,
        le=PG_INT_MAX,
        validation_alias=AliasChoices("behind_trunk", "behind"),
    )
    last_commit_hash: str | None = None
    last_commit_message: str | None = None
    last_sync_at: datetime | None = Field(
        default=None, description="When the state was read; older reports are ignored."
    )

    def to_domain(self) -> GitState:
        # Only what the caller sent: absent fields keep their stored values.
        return GitState(**self.model_dump(exclude_unset=True))


class GitStateByBranchIn(GitStateIn):
    """A git-state report addressed by project and branch instead of work item id."""

    project_id: uuid.UUID
    branch_name: str

    def to_domain(self) -> GitState:
        fields = self.model_dump(exclude_unset=True, exclude={"project_id", "branch_name"})
        return GitState(**fields)


class MergeIn(Input):
    merged_by: str | None = None
    merge_commit_hash: str | None = None


class ActivityIn(Input):
    """``POST /activities``; ``worktree_id`` (v2) and ``work_item_id`` (v3) are the same."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "agent_id": "agent-coder-1",
                "worktree_id": "660e8400-e29b-41d4-a716-446655440001",
                "activity_type": "modified",
                "description": "Implemented JWT token validation",
                "file_path": "src/auth/jwt.rs",
                "metadata": {"lines_added": 45},
            }
        }
    )

    # Required as in the v2 contract (1.4 and MCP log_activity).
    agent_id: str = Field(min_length=1)
    work_item_id: uuid.UUID = Field(validation_alias=AliasChoices("worktree_id", "work_item_id"))
    activity_type: str
    description: str = Field(min_length=1)
    file_path: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
